import Foundation

/// What a file on a medium is, by content (magic bytes), not by extension —
/// except where only the name can tell (`autorun.inf`, viewer runtimes).
public enum FileKind: String, Codable, Sendable {
    case dicom, dicomdir, jpeg, png, tiff, bmp, gif, pdf, html, viewer, autorun, executable, text, archive, other

    /// Bytes worth handing to ``sniff(prefix:path:)``: enough for the
    /// Part 10 preamble and a raw data set's first elements, and the
    /// 1024 bytes a PDF header may be found in.
    public static let sniffPrefixSize = 1024

    /// Classifies a file from its first bytes (``sniffPrefixSize`` is
    /// plenty; fewer is fine) and its path on the medium. Cheap: runs on
    /// every file of a disc.
    ///
    /// - `dicom`: 128-byte preamble + `DICM`, or a raw data set (no
    ///   preamble) whose first elements look like group 0008 (or 0002 /
    ///   0004 / 0010) tags with valid explicit VRs or plausible implicit
    ///   lengths. `dicomdir` is never returned: the scan engine decides it
    ///   from the SOP class.
    /// - `autorun`: `autorun.inf` (any case, any `;n` version suffix).
    /// - `viewer`: a Windows program or library (`MZ`) named `.exe`/`.dll`,
    ///   a `.jar`, anything inside an `.app` bundle or a folder named like
    ///   a viewer (`VIEWER`, `DICOMVIEWER`, `Viewer_x64`…); other `MZ`, ELF
    ///   and Mach-O files are `executable`.
    /// - `archive`: zip, gzip, bzip2, xz, zstd, 7z, rar, cab, tar.
    public static func sniff(prefix: Data, path: String) -> FileKind {
        if isAutorunPath(path) { return .autorun }
        return prefix.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> FileKind in
            let b = raw.bindMemory(to: UInt8.self)
            func starts(_ magic: [UInt8], at offset: Int = 0) -> Bool {
                guard offset + magic.count <= b.count else { return false }
                for i in 0..<magic.count where b[offset + i] != magic[i] { return false }
                return true
            }
            // DICOM first: a Part 10 preamble may hold anything (even a
            // TIFF header, PS3.10 7.5), so it wins over other magic.
            if starts([0x44, 0x49, 0x43, 0x4D], at: 128) { return .dicom }

            let executable = starts([0x4D, 0x5A])                                  // MZ
                || starts([0x7F, 0x45, 0x4C, 0x46])                                // ELF
                || starts([0xFE, 0xED, 0xFA, 0xCE]) || starts([0xFE, 0xED, 0xFA, 0xCF])
                || starts([0xCE, 0xFA, 0xED, 0xFE]) || starts([0xCF, 0xFA, 0xED, 0xFE])
                || (starts([0xCA, 0xFE, 0xBA, 0xBE]) && b.count > 8 && b[7] < 0x20)   // fat Mach-O (not Java class)
            // The name only now: nearly every file of a disc is DICOM.
            let ext = extensionOf(lastComponent(path).lowercased())
            if executable {
                if ext == "exe" || ext == "dll" || isViewerPlace(path) { return .viewer }
                return .executable
            }
            if starts([0xFF, 0xD8, 0xFF]) { return .jpeg }
            if starts([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
            if starts([0x49, 0x49, 0x2A, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2A])
                || starts([0x49, 0x49, 0x2B, 0x00]) || starts([0x4D, 0x4D, 0x00, 0x2B]) { return .tiff }
            if starts(Array("GIF87a".utf8)) || starts(Array("GIF89a".utf8)) { return .gif }
            if isBMP(b) { return .bmp }
            if starts(Array("%PDF-".utf8)) { return .pdf }
            if starts([0x50, 0x4B, 0x03, 0x04]) || starts([0x50, 0x4B, 0x05, 0x06]) || starts([0x50, 0x4B, 0x07, 0x08]) {
                return ext == "jar" ? .viewer : .archive
            }
            if starts([0x1F, 0x8B]) || starts(Array("BZh".utf8)) || starts([0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])
                || starts([0x28, 0xB5, 0x2F, 0xFD]) || starts([0x37, 0x7A, 0xBC, 0xAF, 0x27, 0x1C])
                || starts(Array("Rar!\u{1A}\u{07}".utf8)) || starts(Array("MSCF".utf8))
                || starts(Array("ustar".utf8), at: 257) {
                return .archive
            }
            if isRawDataset(b) { return .dicom }
            // ISO 32000-1 §7.5.2 (implementation note): readers take a
            // `%PDF-` header anywhere in the first 1024 bytes (as convert does).
            if contains(Array("%PDF-".utf8), in: b, before: 1024) { return .pdf }
            if isHTML(b) { return .html }
            if isText(b) { return .text }
            return isViewerPlace(path) ? .viewer : .other
        }
    }

    /// `magic` starting within the first `limit` bytes of `b`.
    static func contains(_ magic: [UInt8], in b: UnsafeBufferPointer<UInt8>, before limit: Int) -> Bool {
        let end = min(b.count, limit) - magic.count
        guard end >= 0 else { return false }
        search: for start in 0...end where b[start] == magic[0] {
            for i in 1..<magic.count where b[start + i] != magic[i] { continue search }
            return true
        }
        return false
    }

    // MARK: - Names

    static func lastComponent(_ path: String) -> Substring {
        let trimmed = path.hasSuffix("/") ? path.dropLast() : Substring(path)
        if let slash = trimmed.lastIndex(where: { $0 == "/" || $0 == "\\" }) { return trimmed[trimmed.index(after: slash)...] }
        return trimmed
    }

    /// The name without an ISO `;n` version and trailing dot.
    static func plainName(_ name: Substring) -> Substring {
        var name = name
        if let semicolon = name.lastIndex(of: ";"), name[name.index(after: semicolon)...].allSatisfy(\.isNumber) {
            name = name[..<semicolon]
        }
        while name.hasSuffix(".") { name = name.dropLast() }
        return name
    }

    static func extensionOf(_ lowerName: String) -> Substring {
        let name = plainName(Substring(lowerName))
        guard let dot = name.lastIndex(of: ".") else { return "" }
        return name[name.index(after: dot)...]
    }

    /// `isAutorun(lastComponent(path))`, on bytes when the path is ASCII.
    static func isAutorunPath(_ path: String) -> Bool {
        var path = path
        let ascii = path.withUTF8 { bytes -> Bool? in
            for byte in bytes where byte >= 0x80 { return nil }
            var end = bytes.count
            if end > 0, bytes[end - 1] == 0x2F { end -= 1 }                  // one trailing `/`
            var start = end
            while start > 0, bytes[start - 1] != 0x2F, bytes[start - 1] != 0x5C { start -= 1 }
            // plainName: a `;<digits>` version, then every trailing dot.
            var semicolon = end
            while semicolon > start, bytes[semicolon - 1] != 0x3B { semicolon -= 1 }
            if semicolon > start, bytes[semicolon..<end].allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) { end = semicolon - 1 }
            while end > start, bytes[end - 1] == 0x2E { end -= 1 }
            let target: [UInt8] = Array("autorun.inf".utf8)
            guard end - start == target.count else { return false }
            for i in 0..<target.count {
                let byte = bytes[start + i]
                if (byte >= 0x41 && byte <= 0x5A ? byte + 0x20 : byte) != target[i] { return false }
            }
            return true
        }
        if let ascii { return ascii }
        return isAutorun(lastComponent(path))
    }

    static func isAutorun(_ name: Substring) -> Bool {
        plainName(name).lowercased() == "autorun.inf"
    }

    /// Folder names of viewers often shipped on patient discs.
    static let viewerFolderWords = ["viewer", "weasis", "radiant", "microdicom", "kpacs", "k-pacs", "osirix", "horos",
                                    "ezdicom", "dicomworks", "sante", "synapse", "onis", "ginkgo", "irfanview", "imageviewer"]

    /// Inside an `.app` bundle or a folder named like a viewer (`VIEWER`,
    /// `DICOMVIEWER`, `Viewer_x64`, `Weasis`, `RadiAnt`…).
    static func isViewerPlace(_ path: String) -> Bool {
        let folders = path.split(whereSeparator: { $0 == "/" || $0 == "\\" }).dropLast()
        for folder in folders {
            let lower = plainName(folder).lowercased()
            if lower.hasSuffix(".app") || viewerFolderWords.contains(where: { lower.contains($0) }) {
                return true
            }
        }
        return false
    }

    // MARK: - Content

    /// `BM`, then a file size field and a DIB header size that make sense.
    static func isBMP(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard b.count >= 18, b[0] == 0x42, b[1] == 0x4D else { return false }
        let dibSize = UInt32(b[14]) | UInt32(b[15]) << 8 | UInt32(b[16]) << 16 | UInt32(b[17]) << 24
        let reserved = b[6] | b[7] | b[8] | b[9]
        return reserved == 0 && [12, 16, 40, 52, 56, 64, 108, 124].contains(dibSize)
    }

    /// `<!DOCTYPE html` or `<html` after an optional BOM and white space
    /// (also `<?xml` followed by an XHTML root, and `<head>`/`<meta` starts).
    static func isHTML(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        if b.count >= 3, b[0] == 0xEF, b[1] == 0xBB, b[2] == 0xBF { i = 3 }
        func skipSpace() { while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 } }
        func matches(_ text: String) -> Bool {
            let bytes = Array(text.utf8)
            guard i + bytes.count <= b.count else { return false }
            for (k, byte) in bytes.enumerated() {
                var c = b[i + k]
                if c >= 0x41, c <= 0x5A { c += 0x20 }
                if c != byte { return false }
            }
            return true
        }
        skipSpace()
        if matches("<?xml") {
            // skip the declaration, then look for the root
            while i < b.count, b[i] != 0x3E { i += 1 }
            i += 1
            skipSpace()
        }
        while matches("<!--") {
            while i + 2 < b.count, !(b[i] == 0x2D && b[i + 1] == 0x2D && b[i + 2] == 0x3E) { i += 1 }
            i += 3
            skipSpace()
        }
        return matches("<!doctype html") || matches("<html") || matches("<head") || matches("<meta")
    }

    /// Printable UTF-8 / ASCII (also Shift_JIS / EUC bytes ≥ 0x80) with no
    /// NUL and few control characters.
    static func isText(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard !b.isEmpty else { return false }
        var control = 0
        for byte in b {
            if byte == 0 { return false }
            if byte < 0x20, byte != 0x09, byte != 0x0A, byte != 0x0D, byte != 0x0C, byte != 0x1B { control += 1 }
        }
        return control * 100 <= b.count
    }

    /// A data set without preamble: the first tag is in a low group
    /// (0002/0004/0008/0010, little endian), ascending element numbers in
    /// the first two elements, and either a valid explicit VR or a
    /// plausible implicit length.
    static func isRawDataset(_ b: UnsafeBufferPointer<UInt8>) -> Bool {
        guard b.count >= 16 else { return false }
        func u16(_ o: Int) -> UInt16 { UInt16(b[o]) | UInt16(b[o + 1]) << 8 }
        func u32(_ o: Int) -> UInt32 { UInt32(u16(o)) | UInt32(u16(o + 2)) << 16 }
        let group = u16(0)
        guard [0x0002, 0x0004, 0x0008, 0x0010].contains(group) else { return false }
        let element = u16(2)
        guard element < 0x2000 else { return false }
        let vr = (b[4], b[5])
        if isUpper(vr.0), isUpper(vr.1), validVRs.contains(UInt16(vr.0) << 8 | UInt16(vr.1)) {
            // Explicit VR: short or long length form; next tag same group, larger element.
            let long = longVRs.contains(UInt16(vr.0) << 8 | UInt16(vr.1))
            let length = long ? Int(u32(8)) : Int(u16(6))
            let next = (long ? 12 : 8) + length
            guard length < 0x1_0000 || long else { return false }
            if next + 4 <= b.count {
                return u16(next) >= group && (u16(next) != group || u16(next + 2) > element)
            }
            return true
        }
        // Implicit VR: a 32-bit length that is small and even (or undefined).
        let length = u32(4)
        guard length == 0xFFFF_FFFF || (length < 0x1_0000 && length % 2 == 0) else { return false }
        let next = 8 + Int(length)
        if length != 0xFFFF_FFFF, next + 4 <= b.count {
            return u16(next) >= group && (u16(next) != group || u16(next + 2) > element)
        }
        return length != 0xFFFF_FFFF || group != 0x0002
    }

    private static func isUpper(_ c: UInt8) -> Bool { c >= 0x41 && c <= 0x5A }

    private static let validVRs: Set<UInt16> = Set(
        ["AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT", "OB", "OD", "OF", "OL", "OV", "OW",
         "PN", "SH", "SL", "SQ", "SS", "ST", "SV", "TM", "UC", "UI", "UL", "UN", "UR", "US", "UT", "UV"]
            .map { let u = Array($0.utf8); return UInt16(u[0]) << 8 | UInt16(u[1]) })
    private static let longVRs: Set<UInt16> = Set(
        ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
            .map { let u = Array($0.utf8); return UInt16(u[0]) << 8 | UInt16(u[1]) })
}
