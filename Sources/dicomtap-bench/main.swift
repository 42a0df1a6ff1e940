// dicomtap-bench: the measuring programs behind tools/bench_*.sh.
//   dicomtap-bench FILE [ITERATIONS]                    decode/encode throughput (tools/bench_parse.sh)
//   dicomtap-bench rpi-load HOST PORT COUNT MODE ID      RPI C-FIND load (tools/bench_serve.sh), MODE one|per-query|echo|distinct
let arguments = CommandLine.arguments
if arguments.count >= 2 && arguments[1] == "rpi-load" {
    await rpiLoad(Array(arguments.dropFirst(2)))
} else {
    parseBenchmark(arguments)
}
