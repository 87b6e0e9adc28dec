#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFileSystem
import Foundation
import Synchronization

/// A folder: a mounted disc, a USB stick, a copy on disk.
///
/// The calling thread walks the tree folder by folder — each folder opened
/// relative to its parent (`openat`), its entries read with `readdir`, and
/// their types taken from the entries themselves (`d_type`; an `lstat`
/// only where the file system does not give it) — and hands the regular
/// files to ``width`` worker threads, which call the visitor concurrently.
/// Each worker opens its file relative to the open folder (`openat`: no
/// path walked from the root per file), takes the size from the open file
/// (`fstat`), reads with `pread`, and closes it when the visitor returns.
/// A folder's descriptor stays open while its files wait for the workers;
/// past ``FolderMedium/openFolderLimit`` open folders, files are named by
/// their full path instead.
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
/// - Unreadable folders, entries that cannot be looked at and files that
///   vanish before they are opened are skipped and reported (`.unreadable`);
///   a folder that is one of its own parents (a bind mount) is reported
///   (`.symlinkLoop`) and not entered; folders deeper than
///   ``MediumLimits/maximumDepth`` are not entered and are reported
///   (`.entryLimit`).
/// - More than ``MediumLimits/maximumEntries`` entries (files, folders,
///   links) stop the visit with `.entryLimit`.
/// - Nothing outside the root is ever read: the root is resolved once,
///   folders are opened without following links (`O_NOFOLLOW`), and link
///   targets must resolve inside it.
public struct FolderMedium: Medium {
    public let location: String
    public var kind: MediumKind { .folder }
    public var volumeLabel: String? { nil }
    public let limits: MediumLimits
    /// Worker threads calling the visitor; 1 visits in walk order on the
    /// calling thread (kinder to a slow optical drive).
    public let width: Int
    /// The folder is on a mounted CD, DVD or BD (an ISO 9660 or UDF file
    /// system): read one file at a time, in walk order, unless a width was
    /// asked for.
    public let isOpticalDisc: Bool
    /// The root with every link resolved.
    let root: String

    /// 4–8 workers: blocking `pread`s overlap even on 2 cores.
    public static let defaultWidth = min(8, max(4, 2 * ProcessInfo.processInfo.activeProcessorCount))

    /// `statfs` file system types of optical discs (Linux `magic.h`):
    /// ISO 9660 (`ISOFS_SUPER_MAGIC`) and UDF (`UDF_SUPER_MAGIC`).
    static let opticalFileSystemTypes: Set<Int64> = [0x9660, 0x1501_3346]

    /// Whether a file system of this `statfs` type is an optical disc's.
    /// Several readers at once make a drive seek between their files
    /// (tens of milliseconds a seek on a CD, against the ~7 MB/s it streams),
    /// so such a folder is read by one.
    static func isOpticalFileSystem(type: Int64) -> Bool {
        opticalFileSystemTypes.contains(type)
    }

    /// Folders kept open for the files waiting in them, at most.
    static let openFolderLimit = 256

    /// - Parameter width: worker threads; nil: ``defaultWidth``, or 1 on an
    ///   optical disc (``isOpticalDisc``).
    public init(path: String, limits: MediumLimits = .init(), width: Int? = nil) throws(MediaError) {
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
        #if os(Linux)
        var fileSystem = statfs()
        let optical = statfs(resolved, &fileSystem) == 0 && FolderMedium.isOpticalFileSystem(type: Int64(fileSystem.f_type))
        #else
        let optical = false   // macOS names the type (f_fstypename): not needed there
        #endif
        self.location = path
        self.root = String(cString: resolved)
        self.limits = limits
        self.isOpticalDisc = optical
        self.width = max(1, width ?? (optical ? 1 : FolderMedium.defaultWidth))
    }

    public func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void) throws {
        try visitFiles(visitor, skipped: { _ in })
    }

    public func visitFiles(_ visitor: @escaping @Sendable (MediumFile) throws -> Void,
                           skipped: @escaping @Sendable (MediaError) -> Void) throws {
        let displayPrefix = root == "/" ? "/" : root + "/"
        if width == 1 {
            let buffer = CopyBuffer()
            try walk(skipped: skipped) { job in
                guard let reader = job.reader(buffer: buffer, displayPrefix: displayPrefix, skipped: skipped) else { return true }
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
                        guard let reader = job.reader(buffer: buffer, displayPrefix: displayPrefix, skipped: skipped) else { continue }
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

    /// A name's bytes as the path the report shows: UTF-8 as it is; each
    /// byte that is not UTF-8 (a Shift_JIS or Latin-1 name) as U+FFFD and
    /// its two hex digits, so two names differing only there stay two
    /// paths (`String(decoding:)` made both one, and import took one file
    /// for the other).
    static func displayPath(_ bytes: [UInt8]) -> String {
        if let valid = String(validating: bytes, as: UTF8.self) { return valid }
        var out = ""
        var parser = Unicode.UTF8.ForwardParser()
        var iterator = bytes.makeIterator()
        var position = 0
        let hex = Array("0123456789ABCDEF".unicodeScalars)
        loop: while true {
            switch parser.parseScalar(from: &iterator) {
            case .valid(let encoded):
                out.unicodeScalars.append(Unicode.UTF8.decode(encoded))
                position += encoded.count
            case .error(let length):
                for byte in bytes[position..<(position + length)] {
                    out.unicodeScalars.append("\u{FFFD}")
                    out.unicodeScalars.append(hex[Int(byte >> 4)])
                    out.unicodeScalars.append(hex[Int(byte & 0x0F)])
                }
                position += length
            case .emptyInput:
                break loop
            }
        }
        return out
    }

    /// One regular file found by the walk.
    struct Job: Sendable {
        /// Path relative to the root, `/`-separated (bytes that are not UTF-8 as ``displayPath(_:)`` shows them).
        let relative: String
        /// NUL-terminated: the file's name in `folder`, or (no folder) the
        /// absolute path to open (the resolved target for a link).
        let path: [CChar]
        let folder: OpenFolder?
        /// Known for a link's target; nil: taken from the open file.
        let size: Int?

        /// A reader of the file: opened (its size from the open file) when
        /// the walk did not give the size. A file that can be neither
        /// opened nor looked at is skipped (nil); one that cannot be opened
        /// but has a size is visited, and its first read says why it fails.
        func reader(buffer: CopyBuffer, displayPrefix: String, skipped: (MediaError) -> Void) -> PosixFileReader? {
            guard let folder else { return PosixFileReader(path: path, size: size ?? 0, buffer: buffer) }
            var descriptor: Int32 = -1
            var size = self.size
            if size == nil {
                var info = stat()
                descriptor = openat(folder.descriptor, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
                if descriptor >= 0, fstat(descriptor, &info) == 0 {
                    size = Int(info.st_size)
                } else {
                    let openError = errno
                    if descriptor >= 0 { _ = Glibc.close(descriptor); descriptor = -1 }
                    guard fstatat(folder.descriptor, path, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                        let code = errno == 0 ? openError : errno
                        skipped(MediaError(.unreadable, "cannot read: \(systemMessage(code)), skipped", path: relative))
                        return nil
                    }
                    size = Int(info.st_size)
                }
            }
            return PosixFileReader(name: path, in: folder, descriptor: descriptor, size: size ?? 0, buffer: buffer,
                                   displayPrefix: displayPrefix, displayName: relative)
        }
    }

    /// A folder waiting to be read: its name in its parent (open).
    private struct PendingFolder {
        let parent: OpenFolder
        let name: [CChar]
        /// Relative to the root, no trailing `/` (`""`: the root).
        let relative: [UInt8]
        let level: Int
        /// The folders above it (device and inode), to tell a cycle.
        let ancestors: FolderChain?
    }

    /// Walks the tree; `emit` returns false to stop early.
    func walk(skipped: (MediaError) -> Void, emit: (Job) throws -> Bool) throws {
        let count = OpenFolderCount()
        let rootDescriptor = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard rootDescriptor >= 0 else {
            throw MediaError(.unreadable, "cannot walk the folder: \(systemMessage(errno))", path: location)
        }
        let rootFolder = OpenFolder(descriptor: rootDescriptor, count: count)

        // The root, `/`-terminated, as bytes: absolute paths of links (and
        // of files past the open-folder limit), and link containment checks.
        let prefix: [UInt8] = root == "/" ? Array("/".utf8) : Array(root.utf8) + [UInt8(ascii: "/")]
        var entries = 0

        func countEntry() throws(MediaError) {
            entries += 1
            if entries > limits.maximumEntries {
                throw MediaError(.entryLimit, "more than \(limits.maximumEntries) entries (files, folders, links): refused as hostile",
                                 path: location)
            }
        }
        func relativeString(_ bytes: [UInt8]) -> String { FolderMedium.displayPath(bytes) }
        func joined(_ folder: [UInt8], _ name: UnsafeBufferPointer<UInt8>) -> [UInt8] {
            var out = folder
            out.reserveCapacity(folder.count + name.count + 1)
            if !folder.isEmpty { out.append(UInt8(ascii: "/")) }
            out.append(contentsOf: name)
            return out
        }
        func absolute(_ relative: [UInt8]) -> [CChar] {
            (prefix + relative).map { CChar(bitPattern: $0) } + [0]
        }

        var pending: [PendingFolder] = []
        var current: (folder: OpenFolder, relative: [UInt8], level: Int, ancestors: FolderChain?)? = nil
        var first = true
        while true {
            // The next folder to read: the root first, then depth first.
            if first {
                first = false
                var info = stat()
                guard fstat(rootDescriptor, &info) == 0 else {
                    throw MediaError(.unreadable, "cannot read the folder: \(systemMessage(errno))", path: location)
                }
                current = (rootFolder, [], 0, FolderChain(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), parent: nil))
            } else {
                guard let next = pending.popLast() else { break }
                let shown = relativeString(next.relative)
                let descriptor = openat(next.parent.descriptor, next.name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                guard descriptor >= 0 else {
                    skipped(MediaError(.unreadable, "cannot read: \(systemMessage(errno)), skipped", path: shown))
                    continue
                }
                let folder = OpenFolder(descriptor: descriptor, count: count)
                var info = stat()
                guard fstat(descriptor, &info) == 0 else {
                    skipped(MediaError(.unreadable, "cannot read: \(systemMessage(errno)), skipped", path: shown))
                    continue
                }
                let device = UInt64(info.st_dev), inode = UInt64(info.st_ino)
                if next.ancestors?.contains(device: device, inode: inode) == true {
                    skipped(MediaError(.symlinkLoop, "folder cycle (a mount or hard link back to a parent), not followed", path: shown))
                    continue
                }
                current = (folder, next.relative, next.level, FolderChain(device: device, inode: inode, parent: next.ancestors))
            }
            guard let (folder, relative, level, ancestors) = current else { break }
            current = nil

            // Every entry of the folder, then its files, then its subfolders.
            var files: [(name: [CChar], size: Int?)] = []
            var links: [[CChar]] = []
            var subfolders: [[CChar]] = []
            let readFailure = try readEntries(of: folder.descriptor) { (name: UnsafeBufferPointer<UInt8>, type: UInt8) throws(MediaError) in
                var kind = type
                var knownSize: Int?
                if kind == UInt8(DT_UNKNOWN) {
                    var info = stat()
                    let looked = name.withMemoryRebound(to: CChar.self) { fstatat(folder.descriptor, $0.baseAddress!, &info, AT_SYMLINK_NOFOLLOW) }
                    guard looked == 0 else {
                        let code = errno
                        try countEntry()
                        skipped(MediaError(.unreadable, "cannot read: \(systemMessage(code)), skipped",
                                           path: relativeString(joined(relative, UnsafeBufferPointer(rebasing: name[..<(name.count - 1)])))))
                        return
                    }
                    switch info.st_mode & S_IFMT {
                    case S_IFREG: kind = UInt8(DT_REG); knownSize = Int(info.st_size)
                    case S_IFDIR: kind = UInt8(DT_DIR)
                    case S_IFLNK: kind = UInt8(DT_LNK)
                    default: kind = UInt8(DT_FIFO)
                    }
                }
                try countEntry()
                let cName = name.withMemoryRebound(to: CChar.self) { Array($0) }
                switch Int32(kind) {
                case Int32(DT_REG): files.append((cName, knownSize))
                case Int32(DT_DIR): subfolders.append(cName)
                case Int32(DT_LNK): links.append(cName)
                default: break   // FIFOs, sockets, devices: never opened (a FIFO would block).
                }
            }
            if let readFailure {
                if level == 0 { throw MediaError(.unreadable, "cannot read the folder: \(systemMessage(readFailure))", path: location) }
                skipped(MediaError(.unreadable, "cannot read: \(systemMessage(readFailure)), skipped", path: relativeString(relative)))
            }

            // Past the limit of open folders, files are named by their full path.
            let keepOpen = count.value <= FolderMedium.openFolderLimit
            for file in files {
                let fileRelative = file.name.withUnsafeBufferPointer { chars in
                    chars.withMemoryRebound(to: UInt8.self) { joined(relative, UnsafeBufferPointer(rebasing: $0[..<($0.count - 1)])) }
                }
                let job: Job
                if keepOpen {
                    job = Job(relative: relativeString(fileRelative), path: file.name, folder: folder, size: file.size)
                } else {
                    let path = absolute(fileRelative)
                    var info = stat()
                    if file.size == nil, lstat(path, &info) != 0 {
                        skipped(MediaError(.unreadable, "cannot read: \(systemMessage(errno)), skipped", path: relativeString(fileRelative)))
                        continue
                    }
                    job = Job(relative: relativeString(fileRelative), path: path, folder: nil, size: file.size ?? Int(info.st_size))
                }
                guard try emit(job) else { return }
            }
            for link in links {
                let linkRelative = link.withUnsafeBufferPointer { chars in
                    chars.withMemoryRebound(to: UInt8.self) { joined(relative, UnsafeBufferPointer(rebasing: $0[..<($0.count - 1)])) }
                }
                switch resolveLink(absolute(linkRelative), prefix: prefix) {
                case .file(let target, let size):
                    guard try emit(Job(relative: relativeString(linkRelative), path: target, folder: nil, size: size)) else { return }
                case .skip(let kind, let message):
                    skipped(MediaError(kind, message, path: relativeString(linkRelative)))
                case .ignore:
                    break
                }
            }
            for name in subfolders.reversed() {
                let folderRelative = name.withUnsafeBufferPointer { chars in
                    chars.withMemoryRebound(to: UInt8.self) { joined(relative, UnsafeBufferPointer(rebasing: $0[..<($0.count - 1)])) }
                }
                if level + 1 > limits.maximumDepth {
                    skipped(MediaError(.entryLimit, "folder nested deeper than \(limits.maximumDepth) levels, not read",
                                       path: relativeString(folderRelative)))
                    continue
                }
                pending.append(PendingFolder(parent: folder, name: name, relative: folderRelative, level: level + 1, ancestors: ancestors))
            }
        }
    }

    /// Calls `body` with every entry of the open folder but `.` and `..`:
    /// its name (NUL-terminated bytes) and `d_type`. Returns the `errno`
    /// of a failure to read the folder (what was read before it was
    /// handed to `body`); rethrows what `body` throws.
    private func readEntries(of descriptor: Int32,
                             _ body: (UnsafeBufferPointer<UInt8>, UInt8) throws(MediaError) -> Void) throws(MediaError) -> Int32? {
        // fdopendir takes the descriptor it is given: a duplicate, so that
        // the folder stays open for its files after closedir.
        let duplicate = dup(descriptor)
        guard duplicate >= 0, let stream = fdopendir(duplicate) else {
            let code = errno
            if duplicate >= 0 { _ = Glibc.close(duplicate) }
            return code
        }
        defer { closedir(stream) }
        let nameOffset = MemoryLayout<dirent>.offset(of: \dirent.d_name)!
        while true {
            errno = 0
            guard let entry = readdir(stream) else { return errno == 0 ? nil : errno }
            let name = (UnsafeRawPointer(entry) + nameOffset).assumingMemoryBound(to: UInt8.self)
            let length = strlen(UnsafeRawPointer(name).assumingMemoryBound(to: CChar.self))
            if name[0] == 0x2E && (length == 1 || (length == 2 && name[1] == 0x2E)) { continue }
            try body(UnsafeBufferPointer(start: name, count: length + 1), entry.pointee.d_type)
        }
    }

    enum LinkOutcome {
        case file(target: [CChar], size: Int)
        case skip(MediaError.Kind, String)
        case ignore
    }

    /// Resolves a symbolic link (its absolute path, NUL-terminated)
    /// completely (`realpath`: a chain or loop of links ends in ELOOP) and
    /// decides whether its target may be read.
    private func resolveLink(_ linkPath: [CChar], prefix: [UInt8]) -> LinkOutcome {
        guard let resolved = realpath(linkPath, nil) else {
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
            let linkBytes = linkPath.dropLast().map { UInt8(bitPattern: $0) }
            if isRoot || linkBytes.starts(with: Array(target) + [UInt8(ascii: "/")]) {
                return .skip(.symlinkLoop, "symbolic link to a folder above it (a loop), not followed")
            }
            return inside ? .ignore : .skip(.pathTraversal, "symbolic link to a folder outside the medium, not followed")
        }
        guard inside else { return .skip(.pathTraversal, "symbolic link to a file outside the medium, not followed") }
        guard info.st_mode & S_IFMT == S_IFREG else { return .ignore }
        return .file(target: Array(UnsafeBufferPointer(start: resolved, count: length)) + [0], size: Int(info.st_size))
    }
}

/// How many folders of a walk are open (its ``OpenFolder``s count themselves).
final class OpenFolderCount: Sendable {
    private let open = Atomic<Int>(0)
    var value: Int { open.load(ordering: .relaxed) }
    func opened() { open.add(1, ordering: .relaxed) }
    func closed() { open.subtract(1, ordering: .relaxed) }
}

/// A folder of the walk, open: the files found in it are opened relative
/// to it. Closed when the walk and the last of its files are done with it.
final class OpenFolder: Sendable {
    let descriptor: Int32
    private let count: OpenFolderCount

    init(descriptor: Int32, count: OpenFolderCount) {
        self.descriptor = descriptor
        self.count = count
        count.opened()
    }

    deinit {
        _ = Glibc.close(descriptor)
        count.closed()
    }
}

/// The folders above a folder of the walk, by device and inode.
final class FolderChain: Sendable {
    let device: UInt64
    let inode: UInt64
    let parent: FolderChain?

    init(device: UInt64, inode: UInt64, parent: FolderChain?) {
        self.device = device
        self.inode = inode
        self.parent = parent
    }

    /// This folder or one above it is that one.
    func contains(device: UInt64, inode: UInt64) -> Bool {
        var chain: FolderChain? = self
        while let link = chain {
            if link.device == device && link.inode == inode { return true }
            chain = link.parent
        }
        return false
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
