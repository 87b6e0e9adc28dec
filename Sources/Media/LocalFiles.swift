#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization

/// A file of a medium as a path on the local file system.
public struct LocalFile: Sendable, Hashable {
    public var path: String
    /// SHA-256 of the bytes copied out (nil when read in place).
    public var sha256: String?
}

extension Medium {
    /// Local paths for `paths` (as the medium names them): files of a
    /// folder (or a single file) are read where they are; entries of an
    /// image, archive or drive are copied out into `folder` (created when
    /// needed), streamed and hashed as they come. Returns them by path on
    /// the medium; a path the visit does not meet again is missing from
    /// the result. Throws a ``MediaError`` when the medium cannot be read
    /// or a copy cannot be written.
    public func localFiles(_ paths: Set<String>, copyingInto folder: String) throws -> [String: LocalFile] {
        switch kind {
        case .folder:
            return Dictionary(uniqueKeysWithValues: paths.map { ($0, LocalFile(path: location + "/" + $0, sha256: nil)) })
        case .file:
            return Dictionary(uniqueKeysWithValues: paths.map { ($0, LocalFile(path: location, sha256: nil)) })
        case .iso9660, .zip, .tar, .device:
            break
        }
        do {
            try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        } catch {
            throw MediaError(.unreadable, "cannot create the folder: \(error.localizedDescription)", path: folder)
        }
        let copies = Mutex<[String: LocalFile]>([:])
        let counter = Atomic<Int>(0)
        try visitFiles { file in
            guard paths.contains(file.path) else { return }
            let target = folder + "/" + String(format: "F%07d", counter.add(1, ordering: .relaxed).oldValue)
            let fd = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw MediaError(.unreadable, "cannot create: \(systemMessage(errno))", path: target) }
            defer { close(fd) }
            var hasher = StreamingSHA256()
            try file.copyContents { chunk in
                hasher.update(chunk)
                var written = 0
                while written < chunk.count {
                    let n = write(fd, chunk.baseAddress! + written, chunk.count - written)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw MediaError(.unreadable, "cannot write: \(systemMessage(errno))", path: target)
                    }
                    written += n
                }
            }
            let copy = LocalFile(path: target, sha256: hasher.finalize())
            copies.withLock { $0[file.path] = copy }
        }
        return copies.withLock { $0 }
    }
}
