// Parse-throughput benchmark for DICOMCore: decodes a Part 10 file N times (and optionally
// re-encodes it) and prints MB/s. Driven by tools/bench_parse.sh, which prints the figures
// beside pydicom's and DCMTK's on the same file.
import DICOMCore
import Foundation
import NIOCore

func parseBenchmark(_ args: [String]) {
guard args.count >= 2, let data = FileManager.default.contents(atPath: args[1]) else {
    FileHandle.standardError.write(Data("usage: dicomtap-bench FILE [ITERATIONS]\n".utf8))
    exit(2)
}
let iterations = args.count >= 3 ? Int(args[2]) ?? 5 : 5
let buffer = ByteBuffer(bytes: data)
let megabytes = Double(buffer.readableBytes) / 1_000_000

func countElements(_ ds: Dataset) -> Int {
    ds.elements.reduce(0) { n, e in
        n + 1 + (e.items?.reduce(0) { $0 + countElements($1.dataset) } ?? 0)
    }
}

let clock = ContinuousClock()
var best = Duration.seconds(1_000_000)
var bestEncode = Duration.seconds(1_000_000)
var elements = 0
do {
    for _ in 0..<iterations {
        let start = clock.now
        let file = try DICOMFile(decoding: buffer)
        let decoded = clock.now
        _ = try file.encode()
        let encoded = clock.now
        best = min(best, decoded - start)
        bestEncode = min(bestEncode, encoded - decoded)
        elements = countElements(file.dataset)
    }
} catch {
    print("error: \(error)")
    exit(1)
}
print(String(format: "dicomtap decode: %.1f MB in %.3f s = %.0f MB/s (%d elements, best of %d)",
             megabytes, seconds(best), megabytes / seconds(best), elements, iterations))
print(String(format: "dicomtap encode: %.1f MB in %.3f s = %.0f MB/s",
             megabytes, seconds(bestEncode), megabytes / seconds(bestEncode)))
}

func seconds(_ d: Duration) -> Double {
    Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}
