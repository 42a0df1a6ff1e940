import DICOMCore
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A connection that could not be made, or an address that could not be listened on, in words
/// for the person at the terminal: `cannot connect to 127.0.0.1:104: connection refused`,
/// `cannot listen on 0.0.0.0:11112: address already in use; choose another port or stop the
/// program listening there`.
///
/// The one place where what NIO throws (`IOError`, `NIOConnectionError`, `SocketAddressError`,
/// `ChannelError`) becomes a message: every command that connects or listens (query, serve,
/// proxy, replay) says it the same way, without a library's type names or an errno dump.
public struct SocketFailure: Error, Sendable, Hashable, CustomStringConvertible {
    public enum Operation: Sendable, Hashable {
        case connect
        case listen
    }

    public var operation: Operation
    public var host: String
    public var port: Int
    /// Why, in words: `connection refused`, `host not found`, `address already in use`...
    public var reason: String
    /// What to do about it, when there is something useful to say.
    public var advice: String?

    public init(_ operation: Operation, host: String, port: Int, reason: String, advice: String? = nil) {
        self.operation = operation
        self.host = host
        self.port = port
        self.reason = reason
        self.advice = advice
    }

    /// A failed connection to `host:port`, from the error the connect threw.
    public init(connectingTo host: String, port: Int, error: any Error) {
        if let failure = error as? SocketFailure {
            self = failure
            return
        }
        self.init(.connect, host: host, port: port, reason: Self.reason(error))
    }

    /// A failed bind to `host:port`, from the error the bind threw.
    public init(listeningOn host: String, port: Int, error: any Error) {
        if let failure = error as? SocketFailure {
            self = failure
            return
        }
        var advice: String?
        switch (error as? IOError)?.errnoCode {
        case EADDRINUSE?: advice = "choose another port or stop the program listening there"
        case EACCES?, EPERM?: advice = port < 1024 ? "ports below 1024 need privileges; choose a port from 1024 up" : nil
        case EADDRNOTAVAIL?: advice = "listen on an address of this machine, or on 0.0.0.0 for all of them"
        default: advice = nil
        }
        self.init(.listen, host: host, port: port, reason: Self.reason(error), advice: advice)
    }

    public var description: String {
        let verb = switch operation {
        case .connect: "cannot connect to"
        case .listen: "cannot listen on"
        }
        return "\(verb) \(Self.address(host: host, port: port)): \(reason)" + (advice.map { "; \($0)" } ?? "")
    }

    /// `127.0.0.1:11112`, `[::1]:11112`, `pacs.example:104`.
    public static func address(host: String, port: Int) -> String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Why a connect, bind or name lookup failed, in words (lower case, no type names).
    public static func reason(_ error: any Error) -> String {
        switch error {
        case let failure as SocketFailure:
            return failure.reason
        case let e as IOError:
            return reason(errno: e.errnoCode)
        case let e as NIOConnectionError:
            // A refusal says more than a lookup error of the other address family.
            if let refused = e.connectionErrors.first(where: { ($0.error as? IOError)?.errnoCode == ECONNREFUSED }) {
                return reason(refused.error)
            }
            if let first = e.connectionErrors.first { return reason(first.error) }
            if let dns = e.dnsAError ?? e.dnsAAAAError { return reason(dns) }
            return "host not found"
        case let e as SocketAddressError.UnknownHost:
            return e.errorCode == Int(EAI_AGAIN) ? "host not found (the name service did not answer)" : "host not found"
        case let e as SocketAddressError:
            if e == .unsupported { return "address family not supported" }
            if e == .unixDomainSocketPathTooLong { return "socket path too long" }
            if case .failedToParseIPString(let text) = e { return "'\(text)' is not an IP address" }
            return "host not found"
        case let e as ChannelError:
            switch e {
            case .connectTimeout(let limit): return "timed out after \(seconds(limit))"
            case .eof, .ioOnClosedChannel, .alreadyClosed, .outputClosed, .inputClosed: return "the connection was closed"
            default: return "\(e)"
            }
        default:
            return "\(error)"
        }
    }

    /// A system error number in words: the common ones as people say them, others as the system does.
    public static func reason(errno code: CInt) -> String {
        switch code {
        case ECONNREFUSED: return "connection refused"
        case EADDRINUSE: return "address already in use"
        case EADDRNOTAVAIL: return "address not available on this machine"
        case EACCES, EPERM: return "permission denied"
        case ENETUNREACH: return "network unreachable"
        case EHOSTUNREACH: return "host unreachable"
        case ETIMEDOUT: return "timed out"
        case ECONNRESET: return "connection reset by the peer"
        default:
            return systemErrorWords(code)
        }
    }

    private static func seconds(_ amount: TimeAmount) -> String {
        let ms = amount.nanoseconds / 1_000_000
        return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
    }
}

extension SocketFailure {
    /// A TCP socket, closed on exec where the system can say so at creation (Glibc's and Musl's `SOCK_CLOEXEC`).
    private static var streamSocketType: Int32 {
        #if canImport(Glibc)
        Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #elseif canImport(Musl)
        SOCK_STREAM | SOCK_CLOEXEC
        #else
        SOCK_STREAM
        #endif
    }

    /// Whether a server could listen on `host:port` now: binds a socket to it (with `SO_REUSEADDR`,
    /// as our servers do) and closes it again, never listening: a client that connects while the
    /// command starts (a readiness probe, a script waiting for the port) is refused until the real
    /// server listens, not accepted and dropped by this check. A command calls it before it opens
    /// files or loads data, so that a port in use is said at once and nothing else is done.
    public static func checkListening(host: String, port: Int) throws(SocketFailure) {
        do {
            let address = try SocketAddress.makeAddressResolvingHost(host, port: port)
            let fd = socket(address.protocol.rawValue, Self.streamSocketType, 0)
            guard fd >= 0 else { throw IOError(errnoCode: errno, reason: "socket") }
            defer { close(fd) }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            let bound = address.withSockAddr { bind(fd, $0, socklen_t($1)) }
            guard bound == 0 else { throw IOError(errnoCode: errno, reason: "bind") }
        } catch {
            throw SocketFailure(listeningOn: host, port: port, error: error)
        }
    }
}
