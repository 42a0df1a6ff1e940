#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMNetwork
import DICOMPeerSupport
import Foundation
import NIOConcurrencyHelpers
import Testing

/// `SocketFailure.checkListening`, which serve, proxy and replay --serve run before loading anything: it must say a
/// port in use in words, and never accept a connection itself. It once listened for a moment: a test that waited
/// for `replay --serve` to listen connected to that moment's listener, and DCMTK's echoscu, started next, was refused
/// (three CI runs).
/// On its own queue: 500 synchronous checks and a wait for the connecting thread would hold a pool thread.
@Suite(.ownExecutor) struct CheckListeningTests {
    @Test func neverAcceptsAConnection() throws {
        let port = try freePort()
        let state = NIOLockedValueBox((stop: false, connected: 0, attempts: 0))
        let done = DispatchSemaphore(value: 0)
        // A client connecting in a loop on a thread of its own, as a readiness probe would, while the check runs.
        Thread.detachNewThread {
            while !state.withLockedValue({ $0.stop }) {
                let connected = (try? canConnect(port: port)) == true
                state.withLockedValue { $0.attempts += 1; if connected { $0.connected += 1 } }
            }
            done.signal()
        }
        for _ in 0..<500 {
            try SocketFailure.checkListening(host: "127.0.0.1", port: port)
        }
        state.withLockedValue { $0.stop = true }
        done.wait()
        let seen = state.withLockedValue { $0 }
        #expect(seen.attempts > 0)
        #expect(seen.connected == 0, "\(seen.connected) of \(seen.attempts) connections were accepted")
    }

    @Test func aPortInUseIsSaidInWords() throws {
        let port = try freePort()
        let listener = try #require(listeningSocket(port: port))
        defer { close(listener) }
        #expect {
            try SocketFailure.checkListening(host: "127.0.0.1", port: port)
        } throws: { error in
            "\(error)" == "cannot listen on 127.0.0.1:\(port): address already in use; choose another port or stop the program listening there"
        }
        #expect {
            try SocketFailure.checkListening(host: "192.0.2.1", port: port)
        } throws: { error in
            "\(error)".hasPrefix("cannot listen on 192.0.2.1:\(port): ") && "\(error)".contains("listen on an address of this machine")
        }
    }
}
