#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import DICOMCore

/// How the proxy and replay create their log and record folders and files, which hold what the peers said
/// (identifiers, AE titles): folders it creates are 0700 and files 0600 whatever the process's
/// umask, and it never writes through something someone else placed where it writes: a
/// symbolic link (files are opened with `O_NOFOLLOW`), a file or folder of another user,
/// anything but a regular file, or a file with other hard links is refused, in words naming
/// the path, before anything is written.
package enum PrivateFiles {
    package static let directoryMode: mode_t = 0o700
    package static let fileMode: mode_t = 0o600
    /// `stem-2` to `stem-N` are tried when `stem` is taken (`createUnique`).
    package static let maximumNameAttempts = 100

    /// A folder or file the proxy cannot or will not write, in words.
    package struct Error: Swift.Error, CustomStringConvertible {
        package var path: String
        package var problem: String
        package var description: String { "cannot write \(path): \(problem)" }

        package init(path: String, problem: String) {
            self.path = path
            self.problem = problem
        }

        /// A failed system call, its reason in words.
        package init(path: String, errno code: CInt) {
            self.init(path: path, problem: systemErrorWords(code))
        }
    }

    /// Creates `path` and its missing parents (like `mkdir -p`), each new one with mode 0700.
    /// Folders that exist already are used as they are (their mode is not changed), except that
    /// the last one must belong to this user: another could replace the files in it.
    package static func makeDirectory(_ path: String) throws(Error) {
        var current = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            current += "/" + component
            if mkdir(current, directoryMode) == 0 {
                // The umask may have taken bits away: the mode is set, not masked.
                guard chmod(current, directoryMode) == 0 else { throw Error(path: current, errno: errno) }
                continue
            }
            let failure = errno
            var info = stat()
            guard failure == EEXIST, stat(current, &info) == 0 else { throw Error(path: current, errno: failure) }
            guard info.st_mode & S_IFMT == S_IFDIR else {
                throw Error(path: current, problem: "it exists and is not a folder; choose another folder")
            }
            if index == components.count - 1, info.st_uid != geteuid() {
                throw Error(path: current, problem: "the folder belongs to another user (uid \(info.st_uid)), who could "
                            + "replace the logs and recordings in it; choose a folder of your own")
            }
        }
    }

    /// Opens `path` for appending (`events.jsonl`): a new file is created with mode 0600; an
    /// existing one is used only when it is a regular file of this user with no other hard link
    /// (then set to 0600: it holds what the peers said).
    package static func openForAppending(_ path: String) throws(Error) -> CInt {
        let created = systemOpen(path, O_WRONLY | O_APPEND | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode)
        if created >= 0 { return try setMode(created, path: path) }
        guard errno == EEXIST else { throw Error(path: path, errno: errno) }
        // O_NONBLOCK: a FIFO placed there must not block the open (it is refused below).
        let fd = systemOpen(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0)
        guard fd >= 0 else {
            switch errno {
            case ELOOP: throw Error(path: path, problem: refusal("it is a symbolic link"))
            case ENXIO: throw Error(path: path, problem: refusal("it is not a regular file"))
            case let failure: throw Error(path: path, errno: failure)
            }
        }
        do throws(Error) {
            var info = stat()
            guard fstat(fd, &info) == 0 else { throw Error(path: path, errno: errno) }
            if let reason = refusalReason(info) { throw Error(path: path, problem: refusal(reason)) }
            guard info.st_nlink == 1 else {
                throw Error(path: path, problem: refusal("it has \(info.st_nlink) hard links (another name may point at it)"))
            }
            let flags = fcntl(fd, F_GETFL)
            guard flags >= 0, fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) == 0 else { throw Error(path: path, errno: errno) }
            return info.st_mode & 0o7777 == fileMode ? fd : try setMode(fd, path: path)
        } catch {
            _ = close(fd)
            throw error
        }
    }

    /// Creates a new file `directory/stem.suffix` with mode 0600, never opening one that exists:
    /// when a file of this user has that name already (a proxy restarted within the second
    /// reuses association ids), `stem-2.suffix`, `stem-3.suffix`... A symbolic link, another
    /// user's file or anything but a regular file at the name is refused.
    package static func createUnique(in directory: String, stem: String, suffix: String) throws(Error) -> (descriptor: CInt, path: String) {
        for attempt in 1...maximumNameAttempts {
            let path = directory + "/" + stem + (attempt == 1 ? "" : "-\(attempt)") + "." + suffix
            // O_EXCL: fails on any name that exists, a symbolic link included (it is not followed).
            let fd = systemOpen(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, fileMode)
            if fd >= 0 { return (try setMode(fd, path: path), path) }
            guard errno == EEXIST else { throw Error(path: path, errno: errno) }
            var info = stat()
            guard lstat(path, &info) == 0 else { throw Error(path: path, errno: errno) }
            if info.st_mode & S_IFMT == S_IFLNK { throw Error(path: path, problem: refusal("it is a symbolic link")) }
            if let reason = refusalReason(info) { throw Error(path: path, problem: refusal(reason)) }
        }
        let path = directory + "/" + stem + "." + suffix
        throw Error(path: path, problem: "it and \(maximumNameAttempts - 1) numbered names after it exist already; "
                    + "move old logs and recordings away")
    }

    /// Why an existing file may not be written to, or nil.
    private static func refusalReason(_ info: stat) -> String? {
        if info.st_mode & S_IFMT != S_IFREG { return "it is not a regular file" }
        if info.st_uid != geteuid() { return "it belongs to another user (uid \(info.st_uid))" }
        return nil
    }

    private static func setMode(_ fd: CInt, path: String) throws(Error) -> CInt {
        // The umask may have taken bits away: the mode is set, not masked.
        guard fchmod(fd, fileMode) == 0 else {
            let failure = errno
            _ = close(fd)
            throw Error(path: path, errno: failure)
        }
        return fd
    }

    private static func refusal(_ what: String) -> String {
        "\(what); the proxy writes its logs and recordings only to files it created itself, "
            + "so that nobody can redirect or read them. Remove it or choose another folder"
    }
}

private func systemOpen(_ path: String, _ flags: CInt, _ mode: mode_t) -> CInt {
    open(path, flags, mode)
}
