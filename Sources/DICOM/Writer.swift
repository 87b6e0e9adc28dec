import Foundation

/// Encodes data sets and Part 10 files (PS3.5 §7, PS3.10 §7).
///
/// Values are written as they are stored, so an element that was read and
/// not changed is written back byte for byte; odd-length values are padded
/// with their VR's padding byte. Sequences and items keep the defined or
/// undefined length they were read with.
public struct DICOMWriter {
    /// Transfer syntaxes the writer produces: explicit and implicit VR
    /// little endian, and encapsulated syntaxes (explicit VR little endian
    /// with the fragments kept as they are).
    public static func canWrite(_ syntax: TransferSyntax) -> Bool {
        !syntax.isBigEndian && !syntax.isDeflated
    }

    /// The encoded data set (no meta information).
    public static func encode(_ dataset: Dataset, transferSyntax: TransferSyntax) throws(DICOMError) -> Data {
        guard canWrite(transferSyntax) else {
            throw DICOMError(.unsupportedTransferSyntax, "discport does not write \(transferSyntax.name) (\(transferSyntax.uid))")
        }
        var out = ByteSink()
        try out.write(dataset, explicit: transferSyntax.isExplicitVR)
        return out.data
    }

    /// The whole Part 10 file: preamble, `DICM`, file meta information with a
    /// correct (0002,0000) group length, and the data set.
    public static func encode(_ file: DICOMFile) throws(DICOMError) -> Data {
        try sink(file).data
    }

    /// The same bytes as ``encode(_:)-(DICOMFile)``, as consecutive parts:
    /// large top-level values (pixel data fragments, encapsulated documents)
    /// are the callers' own `Data`, not copied, for a gathering write
    /// (``AtomicFile/writeAll(_:)``).
    public static func encodeParts(_ file: DICOMFile) throws(DICOMError) -> [Data] {
        var out = try sink(file)
        out.flush()
        return out.parts
    }

    private static func sink(_ file: DICOMFile) throws(DICOMError) -> ByteSink {
        let meta = try completedMeta(for: file)
        var out = ByteSink()
        if let preamble = file.preamble, preamble.count == 128 {
            out.bytes.append(contentsOf: preamble)
        } else {
            out.bytes.append(contentsOf: [UInt8](repeating: 0, count: 128))
        }
        out.bytes.append(contentsOf: [0x44, 0x49, 0x43, 0x4D])
        try out.write(meta, explicit: true)
        if let stray = file.dataset.elements.first(where: { $0.tag.group == 0x0002 }) {
            // A reader would take it for file meta information.
            throw DICOMError(.invalidValue, "group 0002 (file meta information) element in the data set", tag: stray.tag)
        }
        guard canWrite(file.transferSyntax) else {
            throw DICOMError(.unsupportedTransferSyntax, "discport does not write \(file.transferSyntax.name) (\(file.transferSyntax.uid))")
        }
        out.externalizes = true
        try out.write(file.dataset, explicit: file.transferSyntax.isExplicitVR)
        return out
    }

    /// The file's meta information with every required element present
    /// (existing values kept; the transfer syntax always the file's) and the
    /// group length recomputed.
    public static func completedMeta(for file: DICOMFile) throws(DICOMError) -> Dataset {
        var meta = file.meta
        meta.remove(.fileMetaInformationGroupLength)
        func setIfAbsent(_ tag: Tag, _ vr: VR, _ text: String?) throws(DICOMError) {
            guard meta[tag] == nil else { return }
            guard let text, !text.isEmpty else {
                throw DICOMError(.invalidValue, "cannot write file meta information: \(DataDictionary.entry(for: tag)?.name ?? tag.description) is unknown (the data set has no \(tag == .mediaStorageSOPClassUID ? "SOP Class UID" : "SOP Instance UID"))", tag: tag)
            }
            meta.set(DataElement(tag: tag, vr: vr, bytes: paddedUID(text)))
        }
        if meta[.fileMetaInformationVersion] == nil {
            meta.set(DataElement(tag: .fileMetaInformationVersion, vr: .OB, bytes: Data([0x00, 0x01])))
        }
        try setIfAbsent(.mediaStorageSOPClassUID, .UI, file.dataset.firstString(.sopClassUID))
        try setIfAbsent(.mediaStorageSOPInstanceUID, .UI, file.dataset.firstString(.sopInstanceUID))
        if meta.firstString(.transferSyntaxUID) != file.transferSyntax.uid {
            meta.set(DataElement(tag: .transferSyntaxUID, vr: .UI, bytes: paddedUID(file.transferSyntax.uid)))
        }
        try setIfAbsent(.implementationClassUID, .UI, UID.implementationClassUID)
        if meta[.implementationVersionName] == nil {
            meta.set(DataElement(tag: .implementationVersionName, vr: .SH, bytes: Data(UID.implementationVersionName.utf8)))
        }
        var sink = ByteSink()
        try sink.write(meta, explicit: true)
        var lengthBytes = Data()
        DICOMBinary.append(&lengthBytes, UInt32(sink.bytes.count))
        meta.set(DataElement(tag: .fileMetaInformationGroupLength, vr: .UL, bytes: lengthBytes))
        return meta
    }

    /// A UID value padded to even length with NUL (PS3.5 §9.1).
    public static func paddedUID(_ uid: String) -> Data {
        var bytes = Array(uid.utf8)
        if bytes.count % 2 == 1 { bytes.append(0) }
        return Data(bytes)
    }
}

extension DICOMFile {
    /// Writes the file atomically: a temporary file beside the target,
    /// flushed to disk, then renamed over it.
    public func write(to path: String) throws(DICOMError) {
        let data = try DICOMWriter.encode(self)
        try AtomicFile.write(data, to: path)
    }
}

/// Little-endian byte output with length back-patching. With
/// `externalizes`, a large value outside any sequence (no length to patch
/// around it) is kept as its own part instead of being copied.
struct ByteSink {
    var bytes: [UInt8] = []
    /// Finished parts before `bytes`.
    var parts: [Data] = []
    var externalizes = false
    private var depth = 0
    static let externalMinimum = 32 * 1024

    var data: Data {
        guard !parts.isEmpty else { return Data(bytes) }
        var all = Data(capacity: parts.reduce(bytes.count) { $0 + $1.count })
        parts.forEach { all.append($0) }
        all.append(contentsOf: bytes)
        return all
    }

    mutating func flush() {
        if !bytes.isEmpty { parts.append(Data(bytes)); bytes.removeAll(keepingCapacity: true) }
    }

    /// Appends a value: copied, or (large, top level) kept as a part of its own.
    private mutating func append(_ value: Data) {
        if externalizes && depth == 0 && value.count >= ByteSink.externalMinimum {
            flush()
            parts.append(value)
        } else {
            // Through a buffer pointer: one copy, not an element-wise walk of Data.
            value.withUnsafeBytes { bytes.append(contentsOf: $0) }
        }
    }

    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
    mutating func u32(_ v: UInt32) { u16(UInt16(v & 0xFFFF)); u16(UInt16(v >> 16)) }
    mutating func tag(_ t: Tag) { u16(t.group); u16(t.element) }

    mutating func patch32(at offset: Int, _ v: UInt32) {
        for i in 0..<4 { bytes[offset + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(i))) }
    }

    mutating func write(_ dataset: Dataset, explicit: Bool) throws(DICOMError) {
        for element in dataset.elements {
            try write(element, explicit: explicit)
        }
    }

    mutating func write(_ element: DataElement, explicit: Bool) throws(DICOMError) {
        tag(element.tag)
        switch element.value {
        case .bytes(let data):
            let padded = data.count % 2 == 1
            let length = data.count + (padded ? 1 : 0)
            try header(element, explicit: explicit, length: UInt32(length))
            append(data)
            if padded { bytes.append(element.vr.paddingByte) }
        case .sequence(let items):
            // Items of an undefined-length UN are implicit VR (CP-246).
            let itemsExplicit = element.vr == .UN ? false : explicit
            let undefined = element.hasUndefinedLength
            let lengthOffset = bytes.count + (explicit ? 4 : 0)   // after VR + reserved bytes
            try header(element, explicit: explicit, length: undefined ? 0xFFFF_FFFF : 0)
            let start = bytes.count
            depth += 1
            defer { depth -= 1 }
            for item in items {
                tag(.item)
                let itemLengthOffset = bytes.count
                u32(item.isUndefinedLengthItem ? 0xFFFF_FFFF : 0)
                let itemStart = bytes.count
                try write(item, explicit: itemsExplicit)
                if item.isUndefinedLengthItem {
                    tag(.itemDelimitationItem); u32(0)
                } else {
                    patch32(at: itemLengthOffset, UInt32(bytes.count - itemStart))
                }
            }
            if undefined {
                tag(.sequenceDelimitationItem); u32(0)
            } else {
                patch32(at: lengthOffset, UInt32(bytes.count - start))
            }
        case .fragments(let encapsulated):
            try header(element, explicit: explicit, length: 0xFFFF_FFFF)
            for (index, fragment) in ([encapsulated.offsetTable] + encapsulated.fragments).enumerated() {
                tag(.item)
                let padded = fragment.count % 2 == 1
                if padded && index > 0 {
                    throw DICOMError(.invalidValue, "encapsulated fragment \(index) has odd length \(fragment.count)", tag: element.tag)
                }
                u32(UInt32(fragment.count))
                append(fragment)
            }
            tag(.sequenceDelimitationItem); u32(0)
        }
    }

    /// VR and length after the tag.
    private mutating func header(_ element: DataElement, explicit: Bool, length: UInt32) throws(DICOMError) {
        guard explicit else { u32(length); return }
        let (b0, b1) = element.vr.bytes
        bytes.append(b0); bytes.append(b1)
        if element.vr.hasLongLength {
            u16(0)
            u32(length)
        } else {
            guard length <= 0xFFFF else {
                throw DICOMError(.invalidValue, "value of \(length) bytes is too long for VR \(element.vr.rawValue) (at most 65534 in explicit VR)", tag: element.tag)
            }
            u16(UInt16(length))
        }
    }
}
