import DICOM
import Foundation

/// Decodes a data set's pixel data, native or encapsulated, to native
/// pixels. Every syntax it cannot decode is refused by name.
public enum PixelDecoder {
    /// Transfer syntaxes whose pixel data can be decoded (native ones included).
    public static let decodable: [TransferSyntax] = [
        .implicitVRLittleEndian, .explicitVRLittleEndian, .deflatedExplicitVRLittleEndian, .explicitVRBigEndian,
        .encapsulatedUncompressedExplicitVRLittleEndian,
        .rleLossless, .jpegBaseline, .jpegExtended, .jpegLossless, .jpegLosslessSV1,
        .jpegLSLossless, .jpegLSNearLossless, .jpeg2000Lossless, .jpeg2000,
        htj2kLossless, htj2kLosslessRPCL, htj2k,
    ]

    public static let htj2kLossless = TransferSyntax(uid: "1.2.840.10008.1.2.4.201")
    public static let htj2kLosslessRPCL = TransferSyntax(uid: "1.2.840.10008.1.2.4.202")
    public static let htj2k = TransferSyntax(uid: "1.2.840.10008.1.2.4.203")

    public static func canDecode(_ syntax: TransferSyntax) -> Bool {
        decodable.contains { $0.uid == syntax.uid }
    }

    /// The refusal for a syntax that cannot be decoded.
    public static func unsupported(_ syntax: TransferSyntax) -> DICOMError {
        DICOMError(.unsupportedTransferSyntax, "cannot decode pixel data in \(syntax.name) (\(syntax.uid))")
    }

    /// Decodes every frame of the file's pixel data.
    public static func decode(_ file: DICOMFile) throws(DICOMError) -> DecodedPixels {
        try decode(file.dataset, transferSyntax: pixelSyntax(of: file))
    }

    /// The syntax the pixel data is compressed with: the file's, or, when
    /// the reader found the data set encoded otherwise than the meta
    /// information says (an implicit VR data set under a JPEG syntax UID),
    /// the meta information's compressed syntax.
    public static func pixelSyntax(of file: DICOMFile) -> TransferSyntax {
        if !file.transferSyntax.isEncapsulated, file.dataset[.pixelData]?.fragments != nil,
           let uid = file.meta.firstString(.transferSyntaxUID) {
            let declared = TransferSyntax(uid: uid)
            if declared.isEncapsulated { return declared }
        }
        return file.transferSyntax
    }

    public static func decode(_ dataset: Dataset, transferSyntax syntax: TransferSyntax) throws(DICOMError) -> DecodedPixels {
        guard let element = dataset[.pixelData] else {
            throw DICOMError(.invalidValue, "the data set has no Pixel Data (7FE0,0010)", tag: .pixelData)
        }
        let source = try ImagePixel(dataset)
        switch element.value {
        case .bytes(let bytes):
            // Native (defined length) even under a compressed syntax: what
            // the reader found, e.g. an icon DCMTK left uncompressed.
            return try native(bytes, pixel: source)
        case .sequence:
            throw DICOMError(.malformed, "Pixel Data is a sequence", tag: .pixelData)
        case .fragments(let encapsulated):
            guard syntax.isEncapsulated else { throw DICOMError(.malformed, "\(syntax.name) pixel data is encapsulated", tag: .pixelData) }
            guard canDecode(syntax) else { throw unsupported(syntax) }
            let frames = try EncapsulatedFrames.frames(of: encapsulated, count: source.numberOfFrames, in: dataset)
            if syntax == .encapsulatedUncompressedExplicitVRLittleEndian {
                var all = Data()
                frames.forEach { all.append($0) }
                return try native(all, pixel: source)
            }
            var output = outputLayout(source, syntax: syntax)
            var data = Data(capacity: output.frameLength * frames.count)
            var lossy = syntax.isLossy
            for (index, frame) in frames.enumerated() {
                do {
                    let decoded = try decodeFrame(frame, syntax: syntax, source: source, output: &output)
                    lossy = lossy || decoded.lossy
                    data.append(decoded.bytes)
                } catch let error {
                    var error = error
                    let frameNote = source.numberOfFrames > 1 ? "frame \(index + 1): " : ""
                    error.message = "cannot decode \(syntax.name) (\(syntax.uid)): \(frameNote)\(error.message)"
                    throw error
                }
            }
            return DecodedPixels(pixel: output, data: data, wasLossy: lossy)
        }
    }

    /// Native pixel data: checked for length, padding dropped.
    static func native(_ bytes: Data, pixel: ImagePixel) throws(DICOMError) -> DecodedPixels {
        let needed = pixel.pixelDataLength
        guard bytes.count >= needed else {
            throw DICOMError(.malformed, "Pixel Data has \(bytes.count) bytes, the image needs \(needed)", tag: .pixelData)
        }
        return DecodedPixels(pixel: pixel, data: bytes.prefix(needed), wasLossy: false)
    }

    /// The layout after decompression (PS3.5 §8.2): colour by pixel; JPEG
    /// YBR_FULL(_422) becomes RGB (libjpeg converts), JPEG 2000's
    /// YBR_RCT/YBR_ICT become RGB (the decoder applies the inverse MCT).
    static func outputLayout(_ source: ImagePixel, syntax: TransferSyntax) -> ImagePixel {
        var output = source
        output.planarConfiguration = 0
        if source.samplesPerPixel == 3 {
            switch syntax {
            case .jpegBaseline, .jpegExtended:
                if source.photometricInterpretation.hasPrefix("YBR") { output.photometricInterpretation = "RGB" }
            case .jpeg2000Lossless, .jpeg2000, htj2kLossless, htj2kLosslessRPCL, htj2k:
                if ["YBR_RCT", "YBR_ICT"].contains(source.photometricInterpretation) { output.photometricInterpretation = "RGB" }
            default: break
            }
        }
        // The decoders give every pixel its three samples: what stays
        // YBR_FULL_422 (a lossless JPEG so labelled) is YBR_FULL decoded.
        if output.photometricInterpretation == "YBR_FULL_422" { output.photometricInterpretation = "YBR_FULL" }
        return output
    }

    static func decodeFrame(_ frame: Data, syntax: TransferSyntax, source: ImagePixel, output: inout ImagePixel) throws(DICOMError) -> (bytes: Data, lossy: Bool) {
        switch syntax {
        case .rleLossless:
            return (try RLECodec.decode(frame, pixel: source), false)
        case .jpegBaseline, .jpegExtended, .jpegLossless, .jpegLosslessSV1:
            let header = try JPEGFrameHeader.read(frame)
            if header.process == 0xC3 {
                guard syntax == .jpegLossless || syntax == .jpegLosslessSV1 else {
                    throw DICOMError(.malformed, "a lossless JPEG stream in \(syntax.name)", tag: .pixelData)
                }
            }
            if header.precision == 8 && header.process != 0xC3 {
                let colour: LibJPEG.Colour
                if header.components == 3 {
                    colour = source.photometricInterpretation.hasPrefix("YBR") ? .yCbCrToRGB
                        : (source.photometricInterpretation == "RGB" ? .noTransform : .asMarked)
                } else {
                    colour = .asMarked
                }
                let image = try LibJPEG.decode(frame, colour: colour)
                try check(image.width, image.height, image.components, against: source)
                if source.bitsAllocated == 8 { return (image.samples, true) }
                return (pack(image.samples.map { Int32($0) }, into: output), true)
            }
            let decoded = try JPEGDecoder.decode(frame)
            try check(decoded.header.width, decoded.header.height, decoded.planes.count, against: source)
            if decoded.header.process != 0xC3 && decoded.planes.count != 1 {
                throw DICOMError(.unsupportedTransferSyntax, "\(decoded.header.precision)-bit colour DCT JPEG is not supported (libjpeg-turbo 2.1 decodes 8-bit only)")
            }
            return (pack(interleave(decoded.planes), into: output), decoded.header.process != 0xC3)
        case .jpegLSLossless, .jpegLSNearLossless:
            let image = try CharLS.decode(frame)
            try check(image.width, image.height, image.components, against: source)
            return (pack(image.samples, into: output), image.nearLossless != 0)
        default:   // JPEG 2000 and HTJ2K
            let image = try OpenJPEG.decode(frame)
            try check(image.width, image.height, image.components, against: source)
            if image.precision > output.bitsStored && image.precision <= output.bitsAllocated {
                // Values beyond Bits Stored would be cut by the mask: the
                // codestream's precision wins (what GDCM does too).
                let bits = output.bitsStored
                let low = image.isSigned ? -(Int32(1) << Int32(bits - 1)) : 0
                let high = image.isSigned ? (Int32(1) << Int32(bits - 1)) - 1 : (Int32(1) << Int32(bits)) - 1
                if image.samples.contains(where: { $0 < low || $0 > high }) {
                    output.bitsStored = image.precision
                    output.highBit = image.precision - 1
                }
            }
            return (pack(image.samples, into: output), syntax.isLossy)
        }
    }

    static func check(_ width: Int, _ height: Int, _ components: Int, against pixel: ImagePixel) throws(DICOMError) {
        guard width == pixel.columns, height == pixel.rows, components == pixel.samplesPerPixel else {
            throw DICOMError(.malformed, "the compressed frame is \(width)×\(height) with \(components) component(s); the data set says \(pixel.columns)×\(pixel.rows) with \(pixel.samplesPerPixel)", tag: .pixelData)
        }
    }

    static func interleave(_ planes: [[Int32]]) -> [Int32] {
        if planes.count == 1 { return planes[0] }
        let n = planes[0].count
        var out = [Int32](repeating: 0, count: n * planes.count)
        for (c, plane) in planes.enumerated() {
            for i in 0..<n { out[i * planes.count + c] = plane[i] }
        }
        return out
    }

    /// Samples to native bytes: the low Bits Stored bits, sign-extended for
    /// Pixel Representation 1, little endian in Bits Allocated.
    static func pack(_ samples: [Int32], into pixel: ImagePixel) -> Data {
        let stored = pixel.bitsStored
        let mask: Int64 = stored >= 32 ? 0xFFFF_FFFF : (Int64(1) << Int64(stored)) - 1
        let signBit: Int64 = Int64(1) << Int64(stored - 1)
        let signed = pixel.isSigned
        let bytes = pixel.bytesPerSample
        var out = Data(count: samples.count * bytes)
        out.withUnsafeMutableBytes { (raw: UnsafeMutableRawBufferPointer) in
            for (i, sample) in samples.enumerated() {
                var value = Int64(sample) & mask
                if signed && value & signBit != 0 { value -= mask + 1 }
                switch bytes {
                case 1: raw[i] = UInt8(truncatingIfNeeded: value)
                case 2: raw.storeBytes(of: UInt16(truncatingIfNeeded: value).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
                default: raw.storeBytes(of: UInt32(truncatingIfNeeded: value).littleEndian, toByteOffset: 4 * i, as: UInt32.self)
                }
            }
        }
        return out
    }
}
