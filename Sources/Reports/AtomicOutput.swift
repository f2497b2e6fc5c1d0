// All-or-nothing outputs. A command that writes a set of files (`run --save DIR`, `train
// --save DIR`) writes them into a fresh hidden directory beside DIR and renames it into
// place at the end, replacing — never merging with — what DIR held; a single file
// (`--trace FILE`) is written beside FILE and renamed over it. Nothing under the target's
// name is ever partly written. A temporary is named `.<target>.spsim-partial.<host>.<pid>.<n>`:
// hidden, never mistaken for output, and removed by the next run that writes the same
// target once its process is gone (a run killed mid-write leaves nothing else behind).
//
// `checkDirectory` and `checkFile` are the up-front checks (run them before any compute):
// the target's parent is a writable directory with room for the expected bytes.
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An output path that cannot be written, or a write that failed: one sentence naming the
/// option and the path.
public struct OutputPathError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Up-front checks and all-or-nothing writes of output files and directories.
public enum AtomicOutput {
    /// What a temporary's name holds after the target's name.
    static let marker = ".spsim-partial."

    /// Checks that `path` can become a directory of outputs about `expectedBytes` in size:
    /// a non-empty path; a directory or nothing there (a directory is replaced, so it may
    /// hold only files spsim writes, `allowedExtensions`); an existing parent directory in
    /// which a directory can be created; `expectedBytes` free on its file system.
    /// - Throws: `OutputPathError` naming `option`, the path and what is wrong.
    public static func checkDirectory(_ path: String, option: String, expectedBytes: Int,
                                      allowedExtensions: Set<String> = ["npy"]) throws(OutputPathError) {
        guard !path.isEmpty else { throw OutputPathError("\(option) \"\": give a directory name") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw OutputPathError("\(option) \(path) is a file; give a directory (it is created if missing)")
            }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            if let foreign = entries.sorted().first(where: { name in
                let full = (path as NSString).appendingPathComponent(name)
                var dir: ObjCBool = false
                _ = FileManager.default.fileExists(atPath: full, isDirectory: &dir)
                return dir.boolValue || !allowedExtensions.contains((name as NSString).pathExtension)
            }) {
                throw OutputPathError("\(option) \(path) exists and holds \(foreign), which spsim did not write; a run replaces the whole directory, so give a new one or one an earlier run wrote")
            }
        }
        try checkParent(of: path, option: option, expectedBytes: expectedBytes)
    }

    /// Checks that `path` can become a file of about `expectedBytes`: a non-empty path, not
    /// a directory, an existing parent directory in which a file can be created, and
    /// `expectedBytes` free on its file system.
    /// - Throws: `OutputPathError` naming `option`, the path and what is wrong.
    public static func checkFile(_ path: String, option: String, expectedBytes: Int) throws(OutputPathError) {
        guard !path.isEmpty else { throw OutputPathError("\(option) \"\": give a file name") }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw OutputPathError("\(option) \(path) is a directory; give a file name")
        }
        try checkParent(of: path, option: option, expectedBytes: expectedBytes)
    }

    /// The parent exists, is a directory, accepts a new entry (probed by creating and
    /// removing one, which also catches read-only file systems and root's bypassed
    /// permissions), and has `expectedBytes` available.
    static func checkParent(of path: String, option: String, expectedBytes: Int) throws(OutputPathError) {
        let parent = parentDirectory(of: path)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDirectory) else {
            throw OutputPathError("\(option) \(path): the directory \(parent) does not exist")
        }
        guard isDirectory.boolValue else { throw OutputPathError("\(option) \(path): \(parent) is not a directory") }
        let probe = (parent as NSString).appendingPathComponent(temporaryName(for: (path as NSString).lastPathComponent))
        guard mkdir(probe, 0o700) == 0 else {
            throw OutputPathError("\(option) \(path): cannot create files in \(parent) (\(String(cString: strerror(errno))))")
        }
        rmdir(probe)
        var stats = statvfs()
        if statvfs(parent, &stats) == 0 {
            let free = Double(stats.f_bavail) * Double(stats.f_frsize)
            if Double(expectedBytes) > free {
                throw OutputPathError("\(option) \(path): needs about \(formatBytes(Double(expectedBytes))) but \(parent) has \(formatBytes(free)) free")
            }
        }
    }

    /// The directory `path` is in ("." for a bare name).
    static func parentDirectory(of path: String) -> String {
        let parent = ((path as NSString).standardizingPath as NSString).deletingLastPathComponent
        return parent.isEmpty ? "." : parent
    }

    /// A fresh temporary name beside a target called `name`.
    static func temporaryName(for name: String) -> String {
        ".\(name)\(marker)\(hostName()).\(getpid()).\(UInt32.random(in: 0 ... .max))"
    }

    /// This host's name (temporaries of other hosts are never judged by pid).
    static func hostName() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "host" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Removes temporaries beside `target` left by processes of this host that no longer run.
    static func removeStaleTemporaries(of target: String) {
        let parent = parentDirectory(of: target), name = (target as NSString).lastPathComponent
        let prefix = ".\(name)\(marker)\(hostName())."
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? [] where entry.hasPrefix(prefix) {
            let fields = entry.dropFirst(prefix.count).split(separator: ".")
            guard fields.count == 2, let pid = Int32(fields[0]), pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH {
                try? FileManager.default.removeItem(atPath: (parent as NSString).appendingPathComponent(entry))
            }
        }
    }

    /// Writes `data` to a temporary beside `path` and renames it over `path`.
    /// - Throws: `OutputPathError` naming `option` when writing or renaming fails; the
    ///   temporary is removed and `path` is left as it was.
    public static func writeFile(_ data: Data, to path: String, option: String) throws(OutputPathError) {
        removeStaleTemporaries(of: path)
        let temporary = (parentDirectory(of: path) as NSString)
            .appendingPathComponent(temporaryName(for: (path as NSString).lastPathComponent))
        do {
            try data.write(to: URL(fileURLWithPath: temporary))
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw OutputPathError("\(option) \(path): writing failed (\(error.localizedDescription)); nothing was written")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw OutputPathError("\(option) \(path): cannot rename the finished file into place (\(reason)); nothing was written")
        }
    }
}

/// A directory of outputs written all-or-nothing: files go into `temporary`, a fresh hidden
/// directory beside `target`; `commit()` renames it to `target`, replacing what was there.
///
/// Between `commit()`'s two renames (old target aside, new one in) the target is briefly
/// absent, never mixed; a process killed there leaves the old outputs in a temporary that
/// the next run removes.
public struct AtomicOutputDirectory {
    /// Where the outputs finally appear.
    public let target: String
    /// Where to write them until `commit()`.
    public let temporary: String
    /// The option that named `target`, for messages.
    public let option: String

    /// Removes stale temporaries of `target` and creates a fresh one.
    /// - Throws: `OutputPathError` when the temporary cannot be created.
    public init(_ target: String, option: String) throws(OutputPathError) {
        self.target = target
        self.option = option
        AtomicOutput.removeStaleTemporaries(of: target)
        temporary = (AtomicOutput.parentDirectory(of: target) as NSString)
            .appendingPathComponent(AtomicOutput.temporaryName(for: (target as NSString).lastPathComponent))
        guard mkdir(temporary, 0o755) == 0 else {
            throw OutputPathError("\(option) \(target): cannot create a directory beside it (\(String(cString: strerror(errno))))")
        }
    }

    /// The path of the output file `name` inside the temporary directory.
    public func path(_ name: String) -> String { (temporary as NSString).appendingPathComponent(name) }

    /// Runs `write` (which writes every output through `path(_:)`) and commits; on any
    /// failure removes the temporary, leaves `target` as it was, and rethrows.
    /// - Throws: `OutputPathError` from creating or committing, or what `write` throws.
    public func write(_ write: (AtomicOutputDirectory) throws -> Void) throws {
        do {
            try write(self)
            try commit()
        } catch {
            discard()
            if error is OutputPathError { throw error }
            throw OutputPathError("\(option) \(target): writing failed (\(error.localizedDescription)); nothing was written")
        }
    }

    /// Moves the temporary into place, replacing `target` (the old one is removed).
    /// - Throws: `OutputPathError` when a rename fails (`target` is then restored).
    public func commit() throws(OutputPathError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: target, isDirectory: &isDirectory) else {
            guard rename(temporary, target) == 0 else { throw failure("cannot rename the outputs into place") }
            return
        }
        guard isDirectory.boolValue else { throw OutputPathError("\(option) \(target) is a file; nothing was written") }
        // The old outputs go aside under a temporary name of this process, then the new ones in.
        let aside = (AtomicOutput.parentDirectory(of: target) as NSString)
            .appendingPathComponent(AtomicOutput.temporaryName(for: (target as NSString).lastPathComponent))
        guard rename(target, aside) == 0 else { throw failure("cannot move the earlier outputs aside") }
        guard rename(temporary, target) == 0 else {
            let error = failure("cannot rename the outputs into place")
            rename(aside, target)
            throw error
        }
        try? FileManager.default.removeItem(atPath: aside)
    }

    /// Removes the temporary directory and everything in it.
    public func discard() {
        try? FileManager.default.removeItem(atPath: temporary)
    }

    private func failure(_ what: String) -> OutputPathError {
        OutputPathError("\(option) \(target): \(what) (\(String(cString: strerror(errno)))); nothing was written")
    }
}
