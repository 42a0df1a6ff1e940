#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a small text file a user names (rules, map, configuration, password): a regular file of at most `limit`
/// bytes, in UTF-8. A device, FIFO or folder is refused before a byte is read (`/dev/zero` or `/dev/stdin` would
/// otherwise be read without end), and the bytes read stop at `limit + 1` whatever the file's size said when it
/// was opened. The problem is a clause in words (`description`), without the path: the caller names the file its own way.
package enum SettingsFile {
    package enum Problem: Error, Sendable, Equatable, CustomStringConvertible {
        case noSuchFile
        case notReadable(String)
        case notARegularFile(String)
        case tooLarge(limit: Int)
        case notUTF8

        package var description: String {
            switch self {
            case .noSuchFile: "there is no such file"
            case .notReadable(let why): "it cannot be read (\(why))"
            case .notARegularFile(let what): "it is \(what), not a regular file"
            case .tooLarge(let limit): "it has more than \(limit) bytes, the most that is read"
            case .notUTF8: "it is not UTF-8 text"
            }
        }
    }

    package static func load(_ path: String, limit: Int) throws(Problem) -> String {
        let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            let why = errno
            throw why == ENOENT ? .noSuchFile : .notReadable(systemErrorWords(why))
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw .notReadable(systemErrorWords(errno)) }
        switch info.st_mode & S_IFMT {
        case S_IFREG: break
        case S_IFDIR: throw .notARegularFile("a folder")
        case S_IFCHR, S_IFBLK: throw .notARegularFile("a device")
        case S_IFIFO: throw .notARegularFile("a pipe")
        case S_IFSOCK: throw .notARegularFile("a socket")
        default: throw .notARegularFile("something else")
        }
        if Int(info.st_size) > limit { throw .tooLarge(limit: limit) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                throw .notReadable(systemErrorWords(errno))
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
            if bytes.count > limit { throw .tooLarge(limit: limit) }
        }
        // A UTF-8 byte-order mark (Excel's "CSV UTF-8", Notepad) is not part of the text.
        let start = bytes.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0
        guard let text = String(validating: bytes[start...], as: UTF8.self) else { throw .notUTF8 }
        return text
    }
}
