import Foundation

/// A JPEG file's marker structure (ITU-T T.81 Annex B), read without
/// decoding: frame header, JFIF/Adobe/EXIF segments, where the scans start.
///
/// ``encapsulatedStream(of:)`` is what goes into DICOM Pixel Data for a
/// verbatim copy (padded with one NUL to even length): SOI, the table and frame segments (DQT, DHT, DAC, DRI,
/// SOFn, DNL), JFIF APP0 and Adobe APP14 (they tell decoders the colour
/// transform), then every byte from the first SOS to EOI unchanged. Every
/// other APPn segment (EXIF with GPS, maker notes, XMP, IPTC, thumbnails)
/// and COM segments are dropped: they carry personal metadata; bytes after
/// EOI (phone "trailers") too. An ICC profile (APP2) leaves the stream as
/// well but is kept in ``iccProfile`` for the ICC Profile attribute.
public struct JPEGStream: Sendable {
    /// The SOFn marker's low byte: 0xC0 baseline, 0xC1 extended, 0xC2
    /// progressive, 0xC3 lossless, 0xC9–0xCB arithmetic, 0xC5–0xC7/0xCD–0xCF hierarchical.
    public var frameMarker: UInt8
    /// Sample precision P (8 or 12; 2–16 for lossless).
    public var precision: Int
    public var rows: Int
    public var columns: Int
    /// Component identifiers and sampling factors, in frame order.
    public var components: [(id: UInt8, h: Int, v: Int)]
    public var hasJFIF: Bool
    /// Adobe APP14 colour transform (0 none: RGB/CMYK, 1 YCbCr, 2 YCCK); nil without APP14.
    public var adobeTransform: Int?
    /// EXIF Orientation (1–8), 1 when absent.
    public var orientation: Int
    /// EXIF DateTimeOriginal, else DateTime, as `YYYYMMDDHHMMSS`.
    public var exifDateTime: String?
    /// Byte ranges of the input kept before the scans: SOI, the table and
    /// frame segments, JFIF APP0, Adobe APP14, in order.
    public var keptRanges: [Range<Int>]
    /// Byte offset of the first SOS marker in the input, and of EOI's end.
    public var scanRange: Range<Int>
    /// Names of the segments left out (for the conversion report).
    public var droppedSegments: [String]
    /// The first scan's predictor (Ss of SOS) in a lossless (process 14)
    /// stream: 1 is the DICOM "first-order prediction" (SV1) syntax.
    public var losslessPredictor: Int?
    /// The embedded ICC colour profile (APP2 `ICC_PROFILE` chunks joined in
    /// order), for the ICC Profile attribute: colour, not personal data.
    public var iccProfile: Data?

    public var samplesPerPixel: Int { components.count }
    public var isBaseline: Bool { frameMarker == 0xC0 }
    /// Sequential Huffman DCT (baseline or extended, 8 or 12 bits): what
    /// DICOM's JPEG Baseline (.50) and Extended (.51) syntaxes hold.
    public var isSequentialHuffman: Bool { frameMarker == 0xC0 || frameMarker == 0xC1 }
    public var isProgressive: Bool { frameMarker == 0xC2 || frameMarker == 0xCA }
    public var isArithmetic: Bool { (0xC9...0xCB).contains(frameMarker) }
    public var isLossless: Bool { frameMarker == 0xC3 || frameMarker == 0xCB }
    public var isHierarchical: Bool { [0xC5, 0xC6, 0xC7, 0xCD, 0xCE, 0xCF].contains(frameMarker) }

    /// The process, for messages: "baseline", "progressive", ….
    public var processName: String {
        if isHierarchical { return "hierarchical" }
        if isLossless { return "lossless" }
        var name: String
        switch frameMarker {
        case 0xC0: name = "baseline"
        case 0xC1, 0xC9: name = "extended sequential"
        default: name = "progressive"
        }
        if isArithmetic { name += " arithmetic" }
        return name
    }

    /// DICOM Photometric Interpretation for the compressed stream (PS3.5
    /// §8.2.1): MONOCHROME2 for one component; RGB when the Adobe marker
    /// says no transform or the components are named R, G, B; otherwise
    /// YCbCr, YBR_FULL_422 whatever the chroma sampling (4:2:2, 4:2:0 or
    /// none): the only YCbCr value Table 8.2.1-1 allows for the JPEG
    /// syntaxes, and the only one the VL Image Module allows for lossy
    /// compression (PS3.3 C.7.6.3.1.2: "though inaccurate, … harmless";
    /// decoders take the sampling from the stream).
    public var photometricInterpretation: String {
        switch components.count {
        case 1: return "MONOCHROME2"
        case 3:
            if adobeTransform == 0 && !hasJFIF { return "RGB" }
            if adobeTransform == nil && !hasJFIF && components.map(\.id) == [0x52, 0x47, 0x42] { return "RGB" }
            return "YBR_FULL_422"
        default: return "CMYK"
        }
    }

    public init(_ data: Data, path: String? = nil) throws(ConvertError) {
        // Parsed in place: the file's bytes are not copied into an array first.
        let parsed = data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Result<JPEGStream, ConvertError> in
            Result { () throws(ConvertError) in try JPEGStream(raw.bindMemory(to: UInt8.self), path: path) }
        }
        self = try parsed.get()
    }

    private init(_ bytes: UnsafeBufferPointer<UInt8>, path: String?) throws(ConvertError) {
        func damaged(_ message: String) -> ConvertError { ConvertError(.damaged, message, path: path) }
        guard bytes.count >= 4, bytes[0] == 0xFF, bytes[1] == 0xD8 else { throw damaged("not a JPEG stream (no SOI marker)") }

        var kept: [Range<Int>] = [0..<2]
        var frame: (marker: UInt8, p: Int, y: Int, x: Int, comps: [(id: UInt8, h: Int, v: Int)])?
        var jfif = false, adobe: Int?, orientation = 1, exifDate: String?
        var dropped: [String] = []
        var iccChunks: [Int: Data] = [:]
        var i = 2
        while true {
            // Markers may be preceded by fill bytes 0xFF.
            guard i < bytes.count, bytes[i] == 0xFF else { throw damaged("JPEG marker expected at byte \(i)") }
            while i < bytes.count && bytes[i] == 0xFF { i += 1 }
            guard i < bytes.count else { throw damaged("the file ends inside a marker") }
            let marker = bytes[i]
            i += 1
            if marker == 0xD9 { throw damaged("EOI before any scan: no image data") }
            if marker == 0x01 || (0xD0...0xD7).contains(marker) { continue }   // no length
            guard i + 2 <= bytes.count else { throw damaged("the file ends inside a marker segment") }
            let length = Int(bytes[i]) << 8 | Int(bytes[i + 1])
            guard length >= 2, i + length <= bytes.count else { throw damaged("marker segment FF\(String(format: "%02X", marker)) runs past the end of the file") }
            let segment = bytes[(i + 2)..<(i + length)]
            let whole = (i - 2)..<(i + length)
            let start = i - 2
            i += length
            switch marker {
            case 0xDA:   // SOS: everything from here to EOI is kept verbatim.
                guard let frame else { throw damaged("scan before the frame header (SOF)") }
                guard let eoi = JPEGStream.findEOI(bytes, from: i) else { throw damaged("truncated: no EOI marker after the scan data") }
                frameMarker = frame.marker
                precision = frame.p
                rows = frame.y
                columns = frame.x
                components = frame.comps
                hasJFIF = jfif
                adobeTransform = adobe
                self.orientation = orientation
                exifDateTime = exifDate
                keptRanges = kept
                scanRange = start..<eoi
                droppedSegments = dropped
                let count = segment.first.map(Int.init) ?? 0
                let selection = segment.startIndex + 1 + 2 * count
                losslessPredictor = frame.marker == 0xC3 && selection < segment.endIndex ? Int(segment[selection]) : nil
                let ordered = iccChunks.keys.sorted()
                if !ordered.isEmpty, ordered == Array(1...ordered.count) {
                    iccProfile = ordered.reduce(into: Data()) { $0.append(iccChunks[$1]!) }
                } else {
                    iccProfile = nil
                }
                if rows == 0 { throw damaged("the frame header has no number of lines (DNL is not supported)") }
                return
            case 0xC0...0xCF where marker != 0xC4 && marker != 0xC8 && marker != 0xCC:
                guard segment.count >= 6 else { throw damaged("short frame header") }
                let s = Array(segment)
                let count = Int(s[5])
                guard count >= 1, s.count >= 6 + 3 * count else { throw damaged("short frame header") }
                var comps: [(id: UInt8, h: Int, v: Int)] = []
                for k in 0..<count {
                    let id: UInt8 = s[6 + 3 * k]
                    let sampling: UInt8 = s[7 + 3 * k]
                    comps.append((id: id, h: Int(sampling >> 4), v: Int(sampling & 0x0F)))
                }
                frame = (marker, Int(s[0]), Int(s[1]) << 8 | Int(s[2]), Int(s[3]) << 8 | Int(s[4]), comps)
                kept.append(whole)
            case 0xE0:
                if segment.starts(with: Array("JFIF\0".utf8)) {
                    jfif = true
                    kept.append(whole)
                } else {
                    dropped.append("APP0")
                }
            case 0xEE:
                if segment.starts(with: Array("Adobe".utf8)) && segment.count >= 12 {
                    adobe = Int(segment[segment.startIndex + 11])
                    kept.append(whole)
                } else {
                    dropped.append("APP14")
                }
            case 0xE1:
                if segment.starts(with: Array("Exif\0\0".utf8)) {
                    let exif = EXIF(Array(segment.dropFirst(6)))
                    orientation = exif.orientation ?? 1
                    exifDate = exif.dateTime
                    dropped.append("APP1 EXIF")
                } else {
                    dropped.append("APP1")
                }
            case 0xE2:
                // ICC_PROFILE\0, chunk number, chunk count, profile bytes (ICC.1 B.4).
                if segment.starts(with: Array("ICC_PROFILE\0".utf8)) && segment.count > 14 {
                    iccChunks[Int(segment[segment.startIndex + 12])] = Data(segment.dropFirst(14))
                }
                dropped.append("APP2")
            case 0xE3...0xEF:
                dropped.append("APP\(marker - 0xE0)")
            case 0xFE:
                dropped.append("COM")
            default:
                // DQT, DHT, DAC, DRI, DNL, EXP and anything else that is
                // part of the coded image.
                kept.append(whole)
            }
        }
    }

    /// The stream to encapsulate, made from `data` (the bytes this stream
    /// was read from): the kept segments, the scans from the first SOS to
    /// EOI unchanged, a trailing NUL when needed for even length (PS3.5 §A.4).
    public func encapsulatedStream(of data: Data) -> Data {
        let length = keptRanges.reduce(scanRange.count) { $0 + $1.count }
        var out = Data(capacity: length + 1)
        for range in keptRanges + [scanRange] {
            out.append(data[(data.startIndex + range.lowerBound)..<(data.startIndex + range.upperBound)])
        }
        if out.count % 2 == 1 { out.append(0) }
        return out
    }

    /// The same stream as ``encapsulatedStream(of:)``, made in `data`'s own
    /// storage without copying the scans: the kept segments are moved up to
    /// just before the first SOS (over the dropped ones) and the stream is a
    /// slice of `data`. `data`'s bytes before the scans are no longer the
    /// file's afterwards.
    public func encapsulate(_ data: inout Data) -> Data {
        let keptLength = keptRanges.reduce(0) { $0 + $1.count }
        let start = scanRange.lowerBound - keptLength, end = scanRange.upperBound
        let pad = (end - start) % 2 == 1
        // The pad byte takes the place of the first byte after EOI (a trailer,
        // left out anyway); with none, the stream is copied.
        guard !pad || end < data.count else { return encapsulatedStream(of: data) }
        data.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
            let base = raw.baseAddress!
            var destination = scanRange.lowerBound
            // Last range first: each moves toward the scans, never over one not yet moved.
            for range in keptRanges.reversed() {
                destination -= range.count
                if destination != range.lowerBound { memmove(base + destination, base + range.lowerBound, range.count) }
            }
            if pad { raw[end] = 0 }
        }
        return data[(data.startIndex + start)..<(data.startIndex + end + (pad ? 1 : 0))]
    }

    /// The offset just after the EOI that ends the entropy-coded data
    /// starting at `from` (RSTn and stuffed 0xFF00 skipped, further scans
    /// of a multi-scan image walked through).
    static func findEOI(_ buffer: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        do {
            guard let base = buffer.baseAddress else { return nil }
            let n = buffer.count
            var i = start
            while i + 1 < n {
                // Entropy-coded data is mostly not 0xFF: let memchr find the next one.
                guard let hit = memchr(base + i, 0xFF, n - i) else { return nil }
                i = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                guard i + 1 < n else { return nil }
                let next = buffer[i + 1]
                if next == 0x00 || (0xD0...0xD7).contains(next) { i += 2; continue }
                if next == 0xFF { i += 1; continue }
                if next == 0xD9 { return i + 2 }
                // Another marker segment between scans (DHT, SOS, DNL, ...): skip it.
                guard i + 4 <= n else { return nil }
                i += 2 + (Int(buffer[i + 2]) << 8 | Int(buffer[i + 3]))
            }
            return nil
        }
    }
}

/// The few EXIF fields a conversion uses; everything else in the segment
/// (GPS, maker notes, owner, serial numbers) is never read, never copied.
struct EXIF {
    var orientation: Int?
    /// `YYYYMMDDHHMMSS` from DateTimeOriginal, else DateTime.
    var dateTime: String?

    init(_ tiff: [UInt8]) {
        guard tiff.count >= 8 else { return }
        let little = tiff[0] == 0x49
        func u16(_ o: Int) -> Int? {
            guard o >= 0, o + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[o]) | Int(tiff[o + 1]) << 8 : Int(tiff[o]) << 8 | Int(tiff[o + 1])
        }
        func u32(_ o: Int) -> Int? {
            guard let a = u16(o), let b = u16(o + 2) else { return nil }
            return little ? a | b << 16 : a << 16 | b
        }
        func entries(_ ifd: Int) -> [(tag: Int, type: Int, count: Int, valueOffset: Int)] {
            guard let n = u16(ifd), n < 1000 else { return [] }
            return (0..<n).compactMap { k in
                let e = ifd + 2 + 12 * k
                guard let tag = u16(e), let type = u16(e + 2), let count = u32(e + 4) else { return nil }
                return (tag, type, count, e + 8)
            }
        }
        func ascii(_ entry: (tag: Int, type: Int, count: Int, valueOffset: Int)) -> String? {
            guard entry.type == 2, entry.count >= 19 else { return nil }
            let offset = entry.count <= 4 ? entry.valueOffset : (u32(entry.valueOffset) ?? -1)
            guard offset >= 0, offset + 19 <= tiff.count else { return nil }
            let digits = tiff[offset..<(offset + 19)].filter { $0 >= 0x30 && $0 <= 0x39 }
            guard digits.count == 14 else { return nil }
            let text = String(decoding: digits, as: UTF8.self)
            return text.hasPrefix("0000") ? nil : text
        }
        guard let ifd0 = u32(4) else { return }
        var dateTime: String?, original: String?
        for entry in entries(ifd0) {
            switch entry.tag {
            case 0x0112: if let v = u16(entry.valueOffset), (1...8).contains(v) { orientation = v }
            case 0x0132: dateTime = ascii(entry)
            case 0x8769:
                if let sub = u32(entry.valueOffset) {
                    for e in entries(sub) where e.tag == 0x9003 { original = ascii(e) }
                }
            default: break
            }
        }
        self.dateTime = original ?? dateTime
    }
}
