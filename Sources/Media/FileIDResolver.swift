import DICOM

/// Maps DICOMDIR Referenced File IDs to the paths a medium actually has.
///
/// Real discs rarely name files exactly as their DICOMDIR says: Linux mounts
/// a plain ISO 9660 disc in lower case, mastering tools leave the `;1`
/// version and a trailing `.` (`IMG00001.;1`), archives carry `.dcm`
/// alternate names (PS3.10 §8.2 allows them), and a zip often holds the
/// disc below a top folder (`CD_EXPORT/DICOMDIR`). Resolution therefore:
///
/// 1. the exact path (File ID components joined with `/` below the folder
///    holding the DICOMDIR);
/// 2. the same path compared case-insensitively, each component without a
///    `;<digits>` version suffix and trailing dots, with backslash or slash
///    separators;
/// 3. the same with a `.dcm` extension added or removed;
/// 4. steps 1–3 from the top of the medium, for DICOMDIRs below the top that
///    reference files from the top.
///
/// When several files match the same normalized name, the one whose name
/// differs least (exact case first, then in path order) wins.
public struct FileIDResolver: Sendable {
    private var exact: Set<String> = []
    /// Normalized path → the best medium path (the first in path order).
    private var normalized: [String: String] = [:]
    /// Normalized path without a `.dcm` extension → the best medium path with one.
    private var withoutExtension: [String: String] = [:]

    /// Indexes the paths of every file on a medium.
    public init(paths: some Sequence<String>) {
        let sorted = paths.sorted()
        exact.reserveCapacity(sorted.count)
        normalized.reserveCapacity(sorted.count)
        for path in sorted {
            exact.insert(path)
            let key = FileIDResolver.normalize(path)
            if normalized[key] == nil { normalized[key] = path }
            if key.hasSuffix(".dcm") {
                let stem = String(key.dropLast(4))
                if withoutExtension[stem] == nil { withoutExtension[stem] = path }
            }
        }
    }

    /// The medium path of a Referenced File ID of the DICOMDIR in `folder`
    /// (`""` at the top of the medium); nil when no file matches or the ID
    /// cannot name a file on the medium (see ``isValid(_:)``).
    public func resolve(_ fileID: [String], folder: String) -> String? {
        resolve(components: FileIDResolver.components(fileID), folder: folder)
    }

    /// ``resolve(_:folder:)`` of a File ID already split by ``components(_:)``.
    func resolve(components: [String], folder: String) -> String? {
        guard FileIDResolver.isValid(components) else { return nil }
        if let found = lookup(components, below: folder) { return found }
        if !folder.isEmpty, let found = lookup(components, below: "") { return found }
        return nil
    }

    private func lookup(_ components: [String], below folder: String) -> String? {
        let joined = (folder.isEmpty ? [] : [folder]) + components
        let path = joined.joined(separator: "/")
        if exact.contains(path) { return path }
        let key = FileIDResolver.normalize(path)
        if let found = normalized[key] { return found }
        if let found = withoutExtension[key] { return found }
        if key.hasSuffix(".dcm"), let found = normalized[String(key.dropLast(4))] { return found }
        return nil
    }

    /// File ID values split into path components: values may themselves
    /// hold `/` or `\` separators (writers that put a whole path in one value).
    public static func components(_ fileID: [String]) -> [String] {
        // Nearly always each value is one plain component already: then
        // the values are the components (what the cuts below would copy).
        if fileID.allSatisfy(isPlainComponent) { return fileID }
        // ASCII values on their bytes: the same cuts, the same trimming
        // (`CharacterSet.whitespaces` holds space and tab in ASCII).
        var out: [String] = []
        for value in fileID {
            let done = value.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
                for byte in bytes where byte >= 0x80 { return false }
                var start = 0
                while start < bytes.count {
                    var end = start
                    while end < bytes.count, bytes[end] != 0x2F, bytes[end] != 0x5C { end += 1 }
                    var a = start, b = end
                    while b > a, bytes[b - 1] == 0x20 || bytes[b - 1] == 0x09 { b -= 1 }
                    while a < b, bytes[a] == 0x20 || bytes[a] == 0x09 { a += 1 }
                    if a < b { out.append(String(decoding: UnsafeBufferPointer(rebasing: bytes[a..<b]), as: UTF8.self)) }
                    start = end + 1
                }
                return true
            }
            if done != true { out += generalComponents([value]) }
        }
        return out
    }

    /// A non-empty ASCII value without `/` or `\` and without space or
    /// tab at either end: ``components(_:)`` keeps it whole, unchanged.
    private static func isPlainComponent(_ value: String) -> Bool {
        value.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            guard let first = bytes.first, let last = bytes.last,
                  first != 0x20, first != 0x09, last != 0x20, last != 0x09 else { return false }
            for byte in bytes where byte >= 0x80 || byte == 0x2F || byte == 0x5C { return false }
            return true
        } ?? false
    }

    /// A File ID in the form a ``DirectoryRecord`` keeps it (components
    /// joined by `\\`) that needs none of the cutting, trimming and checks
    /// of ``components(_:)`` and ``isValid(_:)``: letters, digits and
    /// `_ . ; -` between single `\\`, no `.` or `..` component — PS3.10's
    /// characters with the lower case and the `.` and `;` real discs carry,
    /// nearly every record of every disc. Its components are then the
    /// pieces between the `\\` as they are, and it names a file.
    static func isPlainJoined(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var start = 0
        while start <= bytes.count {
            var end = start
            while end < bytes.count, bytes[end] != 0x5C {
                switch bytes[end] {
                case 0x30...0x39, 0x41...0x5A, 0x61...0x7A, 0x5F, 0x2E, 0x3B, 0x2D: end += 1
                default: return false
                }
            }
            let count = end - start
            guard count > 0 else { return false }   // empty, or an empty component
            if bytes[start] == 0x2E && (count == 1 || (count == 2 && bytes[start + 1] == 0x2E)) { return false }
            start = end + 1
        }
        return true
    }

    private static func generalComponents(_ fileID: [String]) -> [String] {
        fileID.flatMap { $0.split(whereSeparator: { $0 == "/" || $0 == "\\" }).map(String.init) }
            .map { trimmingWhitespaces($0) }
            .filter { !$0.isEmpty }
    }

    /// A File ID can name a file on the medium: at least one component, no
    /// `.` or `..` component, no drive letter.
    public static func isValid(_ components: [String]) -> Bool {
        guard !components.isEmpty else { return false }
        for component in components {
            if component == "." || component == ".." { return false }
            if containsColon(component) { return false }
        }
        return true
    }

    /// `component.contains(":")` (Foundation's search), on bytes when ASCII.
    private static func containsColon(_ component: String) -> Bool {
        let ascii = component.utf8.withContiguousStorageIfAvailable { bytes -> Bool? in
            var colon = false
            for byte in bytes {
                if byte >= 0x80 { return nil }
                if byte == 0x3A { colon = true }
            }
            return colon
        }
        if let ascii, let ascii { return ascii }
        return component.contains(":")
    }

    /// The comparison form of a path: lower case, `\` as `/`, each
    /// component without a `;<digits>` version and trailing dots.
    public static func normalize(_ path: String) -> String {
        let ascii = path.utf8.withContiguousStorageIfAvailable { bytes -> String? in
            for byte in bytes where byte >= 0x80 { return nil }
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                var count = 0
                var start = 0
                while start < bytes.count {
                    var end = start
                    while end < bytes.count, bytes[end] != 0x2F, bytes[end] != 0x5C { end += 1 }
                    if end > start {
                        if count > 0 { out[count] = 0x2F; count += 1 }
                        count = normalizeComponent(bytes[start..<end], into: out, at: count)
                    }
                    start = end + 1
                }
                return count
            }
        }
        if let ascii, let ascii { return ascii }
        return path.split(whereSeparator: { $0 == "/" || $0 == "\\" })
            .map { normalizeComponent(String($0)) }
            .joined(separator: "/")
    }

    static func normalizeComponent(_ name: String) -> String {
        // ASCII (nearly every name on a disc) on its bytes: the same cuts,
        // and ASCII lower case is what `lowercased()` gives ASCII.
        let ascii = name.utf8.withContiguousStorageIfAvailable { bytes -> String? in
            for byte in bytes where byte >= 0x80 { return nil }
            return String(unsafeUninitializedCapacity: bytes.count) { out in
                normalizeComponent(bytes[...], into: out, at: 0)
            }
        }
        if let ascii, let ascii { return ascii }
        var scalars = Substring(name)
        if let semicolon = scalars.lastIndex(of: ";"),
           scalars[scalars.index(after: semicolon)...].allSatisfy(\.isASCIIDigit) {
            scalars = scalars[..<semicolon]
        }
        while scalars.count > 1, scalars.last == "." { scalars.removeLast() }
        return scalars.lowercased()
    }
}

extension FileIDResolver {
    /// ``normalizeComponent(_:)`` of an ASCII name, written at `at`; returns
    /// the end of what was written.
    @inline(__always)
    static func normalizeComponent(_ name: Slice<UnsafeBufferPointer<UInt8>>, into out: UnsafeMutableBufferPointer<UInt8>,
                                   at: Int) -> Int {
        var end = name.endIndex
        if let semicolon = name.lastIndex(of: 0x3B), name[(semicolon + 1)...].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            end = semicolon
        }
        while end - name.startIndex > 1, name[end - 1] == 0x2E { end -= 1 }
        var position = at
        for i in name.startIndex..<end {
            let byte = name[i]
            out[position] = byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte
            position += 1
        }
        return position
    }
}

private extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
