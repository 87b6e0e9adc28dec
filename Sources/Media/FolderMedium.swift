#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFTS
import Foundation

/// A folder: a mounted disc, a USB stick, a copy on disk.
///
/// The calling thread walks the tree with fts(3) (`FTS_PHYSICAL |
/// FTS_NOCHDIR`: one `lstat` per entry, done by fts, nothing more) and hands
/// the regular files to ``width`` worker threads, which call the visitor
/// concurrently. Each file is opened by its worker at its first read
/// (`pread`) and closed when the visitor returns.
///
/// Links and limits:
/// - Symbolic links are never walked into. A link to a regular file inside
///   the root is visited once, under the link's own path, reading the file
///   it resolves to. Everything else is skipped and reported through the
///   `skipped` callback of ``visitFiles(_:skipped:)``, and the visit goes on:
///   a link loop or a link to a folder that contains it (`.symlinkLoop`), a
///   link leaving the root (`.pathTraversal`), a dangling link
///   (`.notFound`). A loop is not hostile on a folder — nothing follows it —
///   so it does not make the rest of a patient's disc unreadable.
/// - Unreadable folders or files fts cannot stat are skipped and reported
///   (`.unreadable`); folders deeper than ``MediumLimits/maximumDepth`` are
///   not entered and are reported (`.entryLimit`).
/// - More than ``MediumLimits/maximumEntries`` entries (files, folders,
///   links) stop the visit with `.entryLimit`.
/// - Nothing outside the root is ever read: the root is resolved once, fts
///   does not follow links, and link targets must resolve inside it.
public struct FolderMedium: Medium {
    public let location: String
    public var kind: MediumKind { .folder }
    public var volumeLabel: String? { nil }
    public let limits: MediumLimits
    /// Worker threads calling the visitor; 1 visits in walk order on the
    /// calling thread (kinder to a slow optical drive).
    public let width: Int
    /// The root with every link resolved.
    let root: String

    /// 4–8 workers: blocking `pread`s overlap even on 2 cores.
    public static let defaultWidth = min(8, max(4, 2 * ProcessInfo.processInfo.activeProcessorCount))

    public init(path: String, limits: MediumLimits = .init(), width: Int = FolderMedium.defaultWidth) throws(MediaError) {
        guard let resolved = realpath(path, nil) else {
            let code = errno
            if code == ENOENT || code == ENOTDIR { throw MediaError(.notFound, "no such folder", path: path) }
            if code == ELOOP { throw MediaError(.symlinkLoop, "the folder is a symlink loop", path: path) }
            throw MediaError(.unreadable, "cannot open: \(systemMessage(code))", path: path)
        }
        defer { free(resolved) }
        var info = stat()
        guard stat(resolved, &info) == 0 else {
            throw MediaError(.unreadable, "cannot open: \(systemMessage(errno))", path: path)
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            throw MediaError(.unsupportedFormat, "not a folder", path: path)
        }
        guard access(resolved, R_OK | X_OK) == 0 else {
            throw MediaError(.unreadable, "cannot read the folder: \(systemMessage(errno))", path: path)
        }
        self.location = path
        self.root = String(cString: resolved)
        self.limits = limits
        self.width = max(1, width)
    }

    public func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void) throws {
        try visitFiles(visitor, skipped: { _ in })
    }

    public func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void,
                           skipped: @escaping @Sendable (MediaError) -> Void) throws {
        if width == 1 {
            let buffer = CopyBuffer()
            try walk(skipped: skipped) { job in
                let reader = PosixFileReader(path: job.absolute, size: job.size, buffer: buffer)
                defer { reader.close() }
                try visitor(reader.mediumFile(relativePath: job.relative))
                return true
            }
            return
        }

        let queue = FolderWorkQueue(capacity: 256)
        for _ in 0..<width {
            queue.workerStarted()
            let thread = Thread {
                let buffer = CopyBuffer()
                work: while let batch = queue.next() {
                    for job in batch {
                        let reader = PosixFileReader(path: job.absolute, size: job.size, buffer: buffer)
                        do {
                            try visitor(reader.mediumFile(relativePath: job.relative))
                        } catch {
                            reader.close()
                            queue.fail(error)
                            break work
                        }
                        reader.close()
                    }
                }
                queue.workerFinished()
            }
            thread.name = "discport.folder"
            thread.start()
        }
        do {
            var batch: [Job] = []
            var emitted = 0
            batch.reserveCapacity(FolderWorkQueue.batchSize)
            try walk(skipped: skipped) { job in
                batch.append(job)
                emitted += 1
                // Small batches first, so that every worker starts at once.
                let size = emitted <= 8 * width * 4 ? 4 : FolderWorkQueue.batchSize
                guard batch.count >= size else { return true }
                defer { batch.removeAll(keepingCapacity: true) }
                return queue.add(batch)
            }
            if !batch.isEmpty { _ = queue.add(batch) }
        } catch {
            queue.fail(error)
        }
        queue.finishAndWait()
        if let failure = queue.failure { throw failure }
    }

    /// One regular file found by the walk.
    struct Job: Sendable {
        /// Path relative to the root, `/`-separated (invalid UTF-8 repaired).
        let relative: String
        /// NUL-terminated path to open (the resolved target for a link).
        let absolute: [CChar]
        let size: Int
    }

    /// Walks the tree; `emit` returns false to stop early.
    func walk(skipped: (MediaError) -> Void, emit: (Job) throws -> Bool) throws {
        var rootBytes = Array(root.utf8CString)
        let stream: UnsafeMutablePointer<FTS>? = rootBytes.withUnsafeMutableBufferPointer { buffer in
            var arguments: [UnsafeMutablePointer<CChar>?] = [buffer.baseAddress, nil]
            return fts_open(&arguments, FTS_PHYSICAL | FTS_NOCHDIR, FolderMedium.filesFirst)
        }
        guard let stream else {
            throw MediaError(.unreadable, "cannot walk the folder: \(systemMessage(errno))", path: location)
        }
        defer { fts_close(stream) }

        // Root prefix, `/`-terminated, as bytes: relative paths and the
        // containment check of link targets work on bytes.
        let prefix: [UInt8] = root == "/" ? Array("/".utf8) : Array(root.utf8) + [UInt8(ascii: "/")]
        var entries = 0

        func relative(_ entry: UnsafeMutablePointer<FTSENT>) -> String {
            let bytes = UnsafeRawBufferPointer(start: entry.pointee.fts_path, count: Int(entry.pointee.fts_pathlen))
            return String(decoding: bytes.dropFirst(min(prefix.count, bytes.count)), as: UTF8.self)
        }
        func countEntry(_ entry: UnsafeMutablePointer<FTSENT>) throws(MediaError) {
            entries += 1
            if entries > limits.maximumEntries {
                throw MediaError(.entryLimit, "more than \(limits.maximumEntries) entries (files, folders, links): refused as hostile",
                                 path: location)
            }
        }

        errno = 0
        while let entry = fts_read(stream) {
            let info = Int32(entry.pointee.fts_info)
            let level = Int(entry.pointee.fts_level)
            switch info {
            case FTS_D:
                guard level > 0 else { continue }
                try countEntry(entry)
                if level > limits.maximumDepth {
                    fts_set(stream, entry, FTS_SKIP)
                    skipped(MediaError(.entryLimit, "folder nested deeper than \(limits.maximumDepth) levels, not read",
                                       path: relative(entry)))
                }
            case FTS_DP:
                continue
            case FTS_F:
                try countEntry(entry)
                let path = UnsafeBufferPointer(start: entry.pointee.fts_path, count: Int(entry.pointee.fts_pathlen))
                let job = Job(relative: relative(entry), absolute: Array(path) + [0],
                              size: Int(entry.pointee.fts_statp.pointee.st_size))
                guard try emit(job) else { return }
            case FTS_SL, FTS_SLNONE:
                try countEntry(entry)
                switch resolveLink(entry, prefix: prefix) {
                case .file(let target, let size):
                    guard try emit(Job(relative: relative(entry), absolute: target, size: size)) else { return }
                case .skip(let kind, let message):
                    skipped(MediaError(kind, message, path: relative(entry)))
                case .ignore:
                    break
                }
            case FTS_DC:
                skipped(MediaError(.symlinkLoop, "folder cycle (a mount or hard link back to a parent), not followed",
                                   path: relative(entry)))
            case FTS_DNR, FTS_ERR, FTS_NS:
                if level == 0 {
                    throw MediaError(.unreadable, "cannot read the folder: \(systemMessage(entry.pointee.fts_errno))", path: location)
                }
                try countEntry(entry)
                skipped(MediaError(.unreadable, "cannot read: \(systemMessage(entry.pointee.fts_errno)), skipped",
                                   path: relative(entry)))
            default:
                // FIFOs, sockets, devices: never opened (a FIFO would block).
                try countEntry(entry)
            }
            errno = 0
        }
        if errno != 0 {
            throw MediaError(.unreadable, "walking the folder failed: \(systemMessage(errno))", path: location)
        }
    }

    /// Each folder's files before its subfolders: the files at the top of a
    /// disc (the DICOMDIR, by far the largest header to read) go to the
    /// workers first, not after every image below them (ISO 9660 sorts
    /// `DICOM` before `DICOMDIR`). Visit order does not change the report.
    private static let filesFirst: @convention(c) (UnsafeMutablePointer<UnsafePointer<FTSENT>?>?,
                                                   UnsafeMutablePointer<UnsafePointer<FTSENT>?>?) -> Int32 = { a, b in
        func rank(_ entry: UnsafeMutablePointer<UnsafePointer<FTSENT>?>?) -> Int32 {
            guard let entry = entry?.pointee else { return 1 }
            return Int32(entry.pointee.fts_info) == FTS_D ? 1 : 0
        }
        return rank(a) - rank(b)
    }

    enum LinkOutcome {
        case file(target: [CChar], size: Int)
        case skip(MediaError.Kind, String)
        case ignore
    }

    /// Resolves a symbolic link completely (`realpath`: a chain or loop of
    /// links ends in ELOOP) and decides whether its target may be read.
    private func resolveLink(_ entry: UnsafeMutablePointer<FTSENT>, prefix: [UInt8]) -> LinkOutcome {
        guard let resolved = realpath(entry.pointee.fts_path, nil) else {
            let code = errno
            switch code {
            case ELOOP: return .skip(.symlinkLoop, "symbolic link loop, not followed")
            case ENOENT, ENOTDIR: return .skip(.notFound, "dangling symbolic link, skipped")
            default: return .skip(.unreadable, "symbolic link cannot be resolved: \(systemMessage(code)), skipped")
            }
        }
        defer { free(resolved) }
        let length = strlen(resolved)
        let target = UnsafeRawBufferPointer(start: resolved, count: length)
        let rootBytes = prefix.count > 1 ? prefix.dropLast() : prefix[...]
        let isRoot = target.elementsEqual(rootBytes)
        let inside = isRoot || (target.count > prefix.count && target.starts(with: prefix))
        var info = stat()
        let isFolder = stat(resolved, &info) == 0 && info.st_mode & S_IFMT == S_IFDIR
        if isFolder {
            // A link to the folder holding it (or to any folder above it)
            // would loop; other folder links are redundant inside the root
            // (their files are visited under their real path).
            let linkPath = UnsafeRawBufferPointer(start: entry.pointee.fts_path, count: Int(entry.pointee.fts_pathlen))
            if isRoot || linkPath.starts(with: Array(target) + [UInt8(ascii: "/")]) {
                return .skip(.symlinkLoop, "symbolic link to a folder above it (a loop), not followed")
            }
            return inside ? .ignore : .skip(.pathTraversal, "symbolic link to a folder outside the medium, not followed")
        }
        guard inside else { return .skip(.pathTraversal, "symbolic link to a file outside the medium, not followed") }
        guard info.st_mode & S_IFMT == S_IFREG else { return .ignore }
        return .file(target: Array(UnsafeBufferPointer(start: resolved, count: length)) + [0], size: Int(info.st_size))
    }
}

/// Hands walked files to the worker threads in batches (one lock and at
/// most one wake-up per batch, not per file): bounded (the walk waits when
/// the workers lag), stops everything at the first failure.
final class FolderWorkQueue: @unchecked Sendable {
    /// Files per batch: small enough to spread a small folder over the
    /// workers, large enough that hand-over costs vanish.
    static let batchSize = 32
    private let condition = NSCondition()
    private var batches: [[FolderMedium.Job]] = []
    private var head = 0
    private var finished = false
    private var running = 0
    private var idle = 0
    private var walkWaiting = false
    private let capacity: Int
    private(set) var failure: (any Error)?

    /// `capacity`: batches waiting at most.
    init(capacity: Int) { self.capacity = capacity }

    func workerStarted() {
        condition.lock(); running += 1; condition.unlock()
    }

    func workerFinished() {
        condition.lock(); running -= 1; condition.broadcast(); condition.unlock()
    }

    /// Adds a batch; false once the visit has failed (the walk stops).
    func add(_ batch: [FolderMedium.Job]) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        while failure == nil, batches.count - head >= capacity {
            walkWaiting = true
            condition.wait()
        }
        walkWaiting = false
        guard failure == nil else { return false }
        if head > 0, head >= batches.count / 2 {   // drop what workers have taken
            batches.removeFirst(head)
            head = 0
        }
        batches.append(batch)
        if idle > 0 { condition.signal() }
        return true
    }

    /// The next batch, or nil when the walk is over and drained, or failed.
    func next() -> [FolderMedium.Job]? {
        condition.lock()
        defer { condition.unlock() }
        while failure == nil, head == batches.count, !finished {
            idle += 1
            condition.wait()
            idle -= 1
        }
        guard failure == nil, head < batches.count else { return nil }
        let batch = batches[head]
        batches[head] = []
        head += 1
        if walkWaiting { condition.broadcast() }
        return batch
    }

    func fail(_ error: any Error) {
        condition.lock()
        if failure == nil { failure = error }
        condition.broadcast()
        condition.unlock()
    }

    var hasFailed: Bool {
        condition.lock(); defer { condition.unlock() }
        return failure != nil
    }

    /// Marks the walk finished and waits until every worker has stopped.
    func finishAndWait() {
        condition.lock()
        finished = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        condition.unlock()
    }
}
