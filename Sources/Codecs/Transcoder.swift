import DICOM
import Foundation

/// The transfer syntaxes `transcode` writes.
public enum TranscodeTarget: String, Sendable, CaseIterable {
    case explicitLE = "explicit-le"
    case implicitLE = "implicit-le"
    case rle

    public var transferSyntax: TransferSyntax {
        switch self {
        case .explicitLE: return .explicitVRLittleEndian
        case .implicitLE: return .implicitVRLittleEndian
        case .rle: return .rleLossless
        }
    }
}

/// Rewrites a file's pixel data in another transfer syntax: decoded pixels,
/// the Image Pixel attributes that describe them, the lossy compression
/// history kept; every other element unchanged. Decompressing keeps the SOP
/// Instance UID (PS3.5 §8: a transfer syntax change, no new instance; the
/// history stays in (0028,2110)–(0028,2114)).
public enum Transcoder {
    public static func transcode(_ file: DICOMFile, to target: TranscodeTarget) throws(DICOMError) -> DICOMFile {
        let syntax = PixelDecoder.pixelSyntax(of: file)
        var dataset = file.dataset
        let decoded = try recode(&dataset, syntax: syntax, target: target)
        // Pixel data inside sequence items (the Icon Image Sequence) is
        // encoded in the file's transfer syntax too (PS3.5 §A.4).
        try recodeNested(&dataset, syntax: syntax, target: target)

        if decoded.wasLossy {
            // The ratio is to the decoded image (every pixel's samples, as
            // the encoder took them), not to a subsampled native layout.
            try markLossy(&dataset, source: file, sourcePixel: decoded.pixel)
        }

        var meta = file.meta
        // The file is now encoded by discport.
        meta.remove(.implementationClassUID)
        meta.remove(.implementationVersionName)
        meta.remove(.transferSyntaxUID)
        var out = DICOMFile(meta: meta, dataset: dataset, transferSyntax: target.transferSyntax, preamble: file.preamble)
        out.meta = try DICOMWriter.completedMeta(for: out)
        return out
    }

    /// Replaces the data set's pixel data (and the Image Pixel attributes
    /// that describe it) with the decoded pixels in the target encoding.
    static func recode(_ dataset: inout Dataset, syntax: TransferSyntax, target: TranscodeTarget) throws(DICOMError) -> DecodedPixels {
        let decoded = try PixelDecoder.decode(dataset, transferSyntax: syntax)
        let source = try ImagePixel(dataset)
        let pixel = decoded.pixel

        if pixel.photometricInterpretation != source.photometricInterpretation {
            try setText(&dataset, pixel.photometricInterpretation, vr: .CS, tag: .photometricInterpretation)
        }
        if pixel.bitsStored != source.bitsStored {
            dataset.setIntegers([pixel.bitsStored], vr: .US, for: .bitsStored)
            dataset.setIntegers([pixel.highBit], vr: .US, for: .highBit)
        }
        if pixel.samplesPerPixel > 1 {
            dataset.setIntegers([pixel.planarConfiguration], vr: .US, for: .planarConfiguration)
        }
        dataset.remove(.extendedOffsetTable)
        dataset.remove(.extendedOffsetTableLengths)
        dataset.remove(.encapsulatedPixelDataValueTotalLength)

        switch target {
        case .explicitLE, .implicitLE:
            let vr: VR = pixel.bitsAllocated > 8 || target == .implicitLE ? .OW : .OB
            dataset.set(DataElement(tag: .pixelData, vr: vr, bytes: decoded.data))
        case .rle:
            guard pixel.photometricInterpretation != "YBR_FULL_422" else {
                throw DICOMError(.unsupportedTransferSyntax, "RLE Lossless of YBR_FULL_422 native pixel data is not supported (PS3.5 §8.2.2 forbids it)")
            }
            var fragments: [Data] = []
            var offsets: [Int] = []
            var position = 0
            for index in 0..<pixel.numberOfFrames {
                let fragment = try RLECodec.encode(decoded.frame(index), pixel: pixel)
                offsets.append(position)
                position += 8 + fragment.count
                fragments.append(fragment)
            }
            dataset.set(DataElement(tag: .pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(offsetTable: DICOMBinary.encode(integers: offsets, vr: .UL), fragments: fragments)), hasUndefinedLength: true))
        }
        return decoded
    }

    static func recodeNested(_ dataset: inout Dataset, syntax: TransferSyntax, target: TranscodeTarget) throws(DICOMError) {
        for element in dataset.elements {
            guard var items = element.items, !items.isEmpty else { continue }
            var changed = false
            for index in items.indices {
                if items[index][.pixelData] != nil {
                    _ = try recode(&items[index], syntax: syntax, target: target)
                    if element.tag == Tag(0x0088, 0x0200) && target != .rle {
                        iconToMonochrome(&items[index])
                    }
                    changed = true
                }
                let before = items[index].count
                try recodeNested(&items[index], syntax: syntax, target: target)
                changed = changed || before != items[index].count || containsPixelData(items[index])
            }
            if changed {
                var replaced = element
                replaced.value = .sequence(items)
                dataset.set(replaced)
            }
        }
    }

    /// The Icon Image macro allows MONOCHROME1/2 and PALETTE COLOR only
    /// (PS3.3 §C.7.6.1.1.6), but a decompressed JPEG icon comes out RGB:
    /// the icon — a small derived preview, not the image — becomes 8-bit
    /// MONOCHROME2 by luminance (ITU-R BT.601 weights).
    static func iconToMonochrome(_ icon: inout Dataset) {
        guard icon.firstString(.photometricInterpretation) == "RGB", icon.integer(.samplesPerPixel) == 3,
              icon.integer(.bitsAllocated) == 8, let rows = icon.integer(.rows), let columns = icon.integer(.columns),
              let data = icon[.pixelData]?.bytes, data.count >= rows * columns * 3 else { return }
        let planar = icon.integer(.planarConfiguration) == 1
        let count = rows * columns
        var grey = Data(count: count + count % 2)
        data.withUnsafeBytes { raw in
            let p = raw.bindMemory(to: UInt8.self)
            for i in 0..<count {
                let r: Int = Int(planar ? p[i] : p[3 * i])
                let g: Int = Int(planar ? p[count + i] : p[3 * i + 1])
                let b: Int = Int(planar ? p[2 * count + i] : p[3 * i + 2])
                let y: Int = (299 * r + 587 * g + 114 * b + 500) / 1000
                grey[i] = UInt8(min(255, y))
            }
        }
        icon.remove(.planarConfiguration)
        icon.setIntegers([1], vr: .US, for: .samplesPerPixel)
        icon.setIntegers([8], vr: .US, for: .bitsStored)
        icon.setIntegers([7], vr: .US, for: .highBit)
        try? setText(&icon, "MONOCHROME2", vr: .CS, tag: .photometricInterpretation)
        icon.set(DataElement(tag: .pixelData, vr: .OB, bytes: grey))
    }

    static func containsPixelData(_ dataset: Dataset) -> Bool {
        dataset.elements.contains { element in
            element.tag == .pixelData || (element.items ?? []).contains(where: containsPixelData)
        }
    }

    /// (0028,2110) = 01 and, when the file does not already describe this
    /// compression, its ratio and method appended (PS3.3 §C.7.6.1.1.5).
    /// The two lists correspond value by value: a source marked lossy whose
    /// history lacks just the last method (GDCM writes the ratio of its
    /// JPEG-LS/J2K compression without (0028,2114)) gets that method only,
    /// not a second ratio for the same compression; a history whose lists
    /// disagree otherwise is left as it is.
    static func markLossy(_ dataset: inout Dataset, source: DICOMFile, sourcePixel: ImagePixel) throws(DICOMError) {
        let already = dataset.firstString(.lossyImageCompression) == "01"
        try setText(&dataset, "01", vr: .CS, tag: .lossyImageCompression)
        guard let method = method(for: PixelDecoder.pixelSyntax(of: source)) else { return }
        var methods = dataset.strings(.lossyImageCompressionMethod)
        var ratios = dataset.strings(.lossyImageCompressionRatio)
        if already && !methods.isEmpty && methods.count >= ratios.count { return }   // the history is recorded
        if already && methods.count + 1 == ratios.count {
            // This compression's ratio is recorded, its method is not.
            methods.append(method)
            try setText(&dataset, methods.joined(separator: "\\"), vr: .CS, tag: .lossyImageCompressionMethod)
            return
        }
        guard methods.count == ratios.count else { return }   // a history that does not pair up: not ours to guess
        guard let fragments = source.dataset[.pixelData]?.fragments else { return }
        let compressed = fragments.fragments.reduce(0) { $0 + $1.count }
        let original = sourcePixel.pixelDataLength
        if compressed > 0 {
            ratios.append(formatRatio(Double(original) / Double(compressed)))
            methods.append(method)
            try setText(&dataset, ratios.joined(separator: "\\"), vr: .DS, tag: .lossyImageCompressionRatio)
            try setText(&dataset, methods.joined(separator: "\\"), vr: .CS, tag: .lossyImageCompressionMethod)
        }
    }

    /// Defined terms of (0028,2114) for the lossy syntaxes.
    static func method(for syntax: TransferSyntax) -> String? {
        switch syntax.uid {
        case TransferSyntax.jpegBaseline.uid, TransferSyntax.jpegExtended.uid: return "ISO_10918_1"
        case TransferSyntax.jpegLSNearLossless.uid: return "ISO_14495_1"
        case TransferSyntax.jpeg2000.uid: return "ISO_15444_1"
        case PixelDecoder.htj2k.uid: return "ISO_15444_15"
        default: return nil
        }
    }

    /// A DS value of at most 16 characters.
    static func formatRatio(_ ratio: Double) -> String {
        String(format: ratio >= 1000 ? "%.0f" : "%.2f", ratio)
    }

    static func setText(_ dataset: inout Dataset, _ text: String, vr: VR, tag: Tag) throws(DICOMError) {
        do {
            try dataset.setString(text, vr: vr, for: tag)
        } catch {
            throw DICOMError(.invalidValue, "cannot encode \(text)", tag: tag)
        }
    }
}
