#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import NIOCore
import NIOPosix
import Testing
import DICOMInspect
@testable import DICOMProxy

/// The proxy's folders are 0700 and its files 0600, and it never writes through what someone
/// else placed where it writes (`PrivateFiles`).
@Suite(.peers) struct PrivateFilesTests {
    let group = MultiThreadedEventLoopGroup.singleton

    static func mode(_ path: String) -> mode_t {
        var info = stat()
        guard lstat(path, &info) == 0 else { return 0 }
        return info.st_mode & 0o7777
    }

    static func contents(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }

    @Test func foldersAre0700AndFiles0600() async throws {
        let dir = try TemporaryDirectory("modes")
        defer { dir.remove() }
        let logDir = dir.file("new/logs")
        let recordDir = dir.file("new/rec")
        let upstream = try await ScriptedUpstream.start(.accept(afterAccept: []), group: group)
        defer { Task { await upstream.stop() } }
        try await withProxy(upstream: upstream.port, configure: {
            $0.logDirectory = logDir
            $0.recordDirectory = recordDir
        }) { proxy in
            let client = try await RawClient.connect(port: proxy.port, group: group)
            try await client.send(TestPDUs.associateRequest())
            _ = try await client.receive(atLeast: TestPDUs.associateAccept().readableBytes)
            await client.close()
            try await eventually("the end") { proxy.logs.contains("END") }
        }
        for folder in [dir.file("new"), logDir, recordDir] {
            #expect(Self.mode(folder) == 0o700, "\(folder): \(String(Self.mode(folder), radix: 8))")
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: logDir).map { logDir + "/" + $0 }
            + FileManager.default.contentsOfDirectory(atPath: recordDir).map { recordDir + "/" + $0 }
        #expect(files.count == 5, "\(files)")  // events.jsonl, the text log, its HTML page, index.html, the recording
        for file in files {
            #expect(Self.mode(file) == 0o600, "\(file): \(String(Self.mode(file), radix: 8))")
        }
    }

    /// A symbolic link where `events.jsonl` goes: the proxy does not start, says which file and
    /// why, and the link's target is left alone.
    @Test func symbolicLinkAtTheLogPathIsRefused() async throws {
        let dir = try TemporaryDirectory("symlink")
        defer { dir.remove() }
        let logDir = dir.file("logs")
        try FileManager.default.createDirectory(atPath: logDir, withIntermediateDirectories: true)
        let target = dir.file("someone-elses.txt")
        #expect(FileManager.default.createFile(atPath: target, contents: Data("theirs\n".utf8)))
        try FileManager.default.createSymbolicLink(atPath: logDir + "/events.jsonl", withDestinationPath: target)

        do {
            let proxy = try await ProxyHarness.start(upstream: 104, configure: { $0.logDirectory = logDir })
            await proxy.stop()
            Issue.record("the proxy started")
        } catch {
            let text = "\(error)"
            #expect(text.contains(logDir + "/events.jsonl"), "\(text)")
            #expect(text.contains("symbolic link"), "\(text)")
            #expect(!text.contains("Error("), "\(text)")
        }
        #expect(Self.contents(target) == "theirs\n")

        // A link to nowhere is refused too (following it would create its target).
        let dangling = dir.file("nowhere.txt")
        try FileManager.default.removeItem(atPath: logDir + "/events.jsonl")
        try FileManager.default.createSymbolicLink(atPath: logDir + "/events.jsonl", withDestinationPath: dangling)
        #expect(throws: PrivateFiles.Error.self) { _ = try PrivateFiles.openForAppending(logDir + "/events.jsonl") }
        #expect(!FileManager.default.fileExists(atPath: dangling))
    }

    /// An association's text log or recording never reuses a file: a name taken by a file of
    /// ours gets a number; a symbolic link or another user's file there is refused.
    @Test func newFilesNeverOpenAnExistingOne() throws {
        let dir = try TemporaryDirectory("unique")
        defer { dir.remove() }
        #expect(FileManager.default.createFile(atPath: dir.file("a.txt"), contents: Data("old\n".utf8)))
        let (fd, path) = try PrivateFiles.createUnique(in: dir.path, stem: "a", suffix: "txt")
        close(fd)
        #expect(path == dir.file("a-2.txt"))
        #expect(Self.contents(dir.file("a.txt")) == "old\n")
        #expect(Self.mode(path) == 0o600)

        let target = dir.file("target")
        #expect(FileManager.default.createFile(atPath: target, contents: Data("theirs\n".utf8)))
        try FileManager.default.createSymbolicLink(atPath: dir.file("b.pcap"), withDestinationPath: target)
        #expect {
            _ = try PrivateFiles.createUnique(in: dir.path, stem: "b", suffix: "pcap")
        } throws: { error in
            "\(error)".contains(dir.file("b.pcap")) && "\(error)".contains("symbolic link")
        }
        #expect(Self.contents(target) == "theirs\n")

        guard geteuid() == 0 else { return }  // only root can give a file to another user
        #expect(FileManager.default.createFile(atPath: dir.file("c.txt"), contents: Data()))
        #expect(chown(dir.file("c.txt"), 65534, 65534) == 0)
        #expect {
            _ = try PrivateFiles.createUnique(in: dir.path, stem: "c", suffix: "txt")
        } throws: { error in
            "\(error)".contains(dir.file("c.txt")) && "\(error)".contains("another user")
        }
    }

    /// `events.jsonl` of an earlier run is appended to (and made 0600); one with another name
    /// linked to it, or of another user, is refused.
    @Test func eventsAreAppendedOnlyToAFileOfOurOwn() throws {
        let dir = try TemporaryDirectory("append")
        defer { dir.remove() }
        let events = dir.file("events.jsonl")
        #expect(FileManager.default.createFile(atPath: events, contents: Data("{}\n".utf8), attributes: [.posixPermissions: 0o644]))
        do {
            let file = try AppendOnlyFile(appendingTo: events)
            file.write("{\"more\":1}\n")
        }
        #expect(Self.contents(events) == "{}\n{\"more\":1}\n")
        #expect(Self.mode(events) == 0o600)

        #expect(link(events, dir.file("other-name")) == 0)
        #expect {
            _ = try AppendOnlyFile(appendingTo: events)
        } throws: { error in
            "\(error)".contains(events) && "\(error)".contains("hard links")
        }
        unlink(dir.file("other-name"))

        guard geteuid() == 0 else { return }
        #expect(chown(events, 65534, 65534) == 0)
        #expect {
            _ = try AppendOnlyFile(appendingTo: events)
        } throws: { error in
            "\(error)".contains(events) && "\(error)".contains("another user")
        }
        // A log folder of another user: they could replace the files in it.
        let theirs = dir.file("theirs")
        try FileManager.default.createDirectory(atPath: theirs, withIntermediateDirectories: true)
        #expect(chown(theirs, 65534, 65534) == 0)
        #expect {
            try PrivateFiles.makeDirectory(theirs)
        } throws: { error in
            "\(error)".contains(theirs) && "\(error)".contains("another user")
        }
    }
}
