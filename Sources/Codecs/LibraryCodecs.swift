import CCharLS
import CJPEG
import COpenJPEG
import DICOM
import Foundation

/// 8-bit DCT JPEG through libjpeg-turbo's libjpeg API: discport's one
/// JPEG library, for DICOM pixel data (``PixelDecoder``), thumbnails and
/// loose JPEG files (`convert`). Every process it reads: baseline,
/// extended 8-bit, progressive, arithmetic; grey, YCbCr, RGB, CMYK, YCCK.
/// Accurate integer IDCT and fancy upsampling (libjpeg's defaults, which
/// Pillow and DCMTK use too), so the pixels equal their decode exactly.
/// 12-bit and lossless JPEG are ``JPEGDecoder``'s (Debian 12's
/// libjpeg-turbo 2.1 has no 12-bit API).
public enum LibJPEG {
    public enum Colour: Int32, Sendable {
        /// libjpeg's rule: JFIF/Adobe markers and component IDs decide.
        case asMarked = 0
        /// Three components as stored (RGB coded as RGB).
        case noTransform = 1
        /// Three components are YCbCr: converted to RGB.
        case yCbCrToRGB = 2
    }

    /// Decoded samples, interleaved: grey (1), RGB (3), or CMYK (4) as the
    /// file stores it (Adobe files: inverted).
    public struct Image: Sendable {
        public var width: Int
        public var height: Int
        public var components: Int
        public var samples: Data
    }

    /// Decodes one JPEG image. `strict`: a warning (corrupt or truncated
    /// data, which libjpeg would fill in with grey) is an error.
    public static func decode(_ stream: Data, colour: Colour = .asMarked, strict: Bool = false) throws(DICOMError) -> Image {
        var out: UnsafeMutablePointer<UInt8>? = nil
        var outSize: UInt = 0
        var width: Int32 = 0, height: Int32 = 0, components: Int32 = 0
        var message = [CChar](repeating: 0, count: 256)
        let rc = stream.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Int32 in
            discport_jpeg_decode(raw.bindMemory(to: UInt8.self).baseAddress, UInt(raw.count), colour.rawValue, strict ? 1 : 0,
                                 &out, &outSize, &width, &height, &components, &message)
        }
        guard rc == 0, let out else {
            throw DICOMError(.malformed, "JPEG (libjpeg-turbo): \(cText(message))", tag: .pixelData)
        }
        let data = Data(bytesNoCopy: out, count: Int(outSize), deallocator: .free)
        return Image(width: Int(width), height: Int(height), components: Int(components), samples: data)
    }

    /// A JFIF JPEG of 8-bit grey (1) or RGB (3) samples: 4:2:0 for colour,
    /// baseline, or progressive when asked.
    public static func encode(_ samples: [UInt8], width: Int, height: Int, components: Int, quality: Int,
                              progressive: Bool = false) throws(DICOMError) -> Data {
        guard components == 1 || components == 3, samples.count >= width * height * components else {
            throw DICOMError(.invalidValue, "JPEG encoding needs \(width)×\(height) grey or RGB samples")
        }
        var out: UnsafeMutablePointer<UInt8>? = nil
        var outSize: UInt = 0
        var message = [CChar](repeating: 0, count: 256)
        let rc = samples.withUnsafeBufferPointer { buffer in
            discport_jpeg_encode(buffer.baseAddress, Int32(width), Int32(height), Int32(components), Int32(quality),
                                 progressive ? 1 : 0, &out, &outSize, &message)
        }
        guard rc == 0, let out else { throw DICOMError(.io, "JPEG encoding (libjpeg-turbo): \(cText(message))") }
        return Data(bytesNoCopy: out, count: Int(outSize), deallocator: .free)
    }
}

/// JPEG-LS through CharLS 2.
enum CharLS {
    struct Image {
        var width: Int
        var height: Int
        var components: Int
        var bitsPerSample: Int
        var nearLossless: Int
        /// Colour-by-pixel samples.
        var samples: [Int32]
    }

    static func decode(_ stream: Data) throws(DICOMError) -> Image {
        guard let decoder = charls_jpegls_decoder_create() else { throw DICOMError(.io, "cannot create a CharLS decoder") }
        defer { charls_jpegls_decoder_destroy(decoder) }
        func check(_ rc: charls_jpegls_errc) throws(DICOMError) {
            if rc != CHARLS_JPEGLS_ERRC_SUCCESS {
                throw DICOMError(.malformed, "JPEG-LS (CharLS): \(String(cString: charls_get_error_message(rc)))", tag: .pixelData)
            }
        }
        let bytes = [UInt8](stream)
        return try bytes.withUnsafeBufferPointer { (raw: UnsafeBufferPointer<UInt8>) throws(DICOMError) -> Image in
            guard let base = raw.baseAddress else { throw DICOMError(.malformed, "empty JPEG-LS frame", tag: .pixelData) }
            try check(charls_jpegls_decoder_set_source_buffer(decoder, base, raw.count))
            try check(charls_jpegls_decoder_read_header(decoder))
            var info = charls_frame_info()
            try check(charls_jpegls_decoder_get_frame_info(decoder, &info))
            var interleave = CHARLS_INTERLEAVE_MODE_NONE
            try check(charls_jpegls_decoder_get_interleave_mode(decoder, &interleave))
            var near: Int32 = 0
            try check(charls_jpegls_decoder_get_near_lossless(decoder, 0, &near))
            var size = 0
            try check(charls_jpegls_decoder_get_destination_size(decoder, 0, &size))
            var buffer = [UInt8](repeating: 0, count: max(size, 1))
            try buffer.withUnsafeMutableBufferPointer { (out: inout UnsafeMutableBufferPointer<UInt8>) throws(DICOMError) in
                try check(charls_jpegls_decoder_decode_to_buffer(decoder, out.baseAddress!, size, 0))
            }
            let width = Int(info.width), height = Int(info.height), components = Int(info.component_count)
            let bits = Int(info.bits_per_sample)
            let pixels = width * height
            var samples = [Int32](repeating: 0, count: pixels * components)
            let wide = bits > 8
            buffer.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
                for i in 0..<(pixels * components) {
                    // CharLS gives component planes for interleave mode none,
                    // colour-by-pixel for line and sample interleaving.
                    let source = interleave == CHARLS_INTERLEAVE_MODE_NONE ? (i % components) * pixels + i / components : i
                    samples[i] = wide ? Int32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * source, as: UInt16.self))) : Int32(raw[source])
                }
            }
            return Image(width: width, height: height, components: components, bitsPerSample: bits, nearLossless: Int(near), samples: samples)
        }
    }
}

/// JPEG 2000 and HTJ2K through OpenJPEG 2.5.
enum OpenJPEG {
    struct Image {
        var width: Int
        var height: Int
        var components: Int
        var precision: Int
        var isSigned: Bool
        /// Colour-by-pixel samples.
        var samples: [Int32]
    }

    static func decode(_ stream: Data) throws(DICOMError) -> Image {
        var message = [CChar](repeating: 0, count: 256)
        let decoded = stream.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> UnsafeMutablePointer<opj_image_t>? in
            discport_opj_decode(raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &message)
        }
        guard let image = decoded else {
            throw DICOMError(.malformed, "JPEG 2000 (OpenJPEG): \(cText(message).trimmingCharacters(in: .whitespacesAndNewlines))", tag: .pixelData)
        }
        defer { opj_image_destroy(image) }
        let count = Int(image.pointee.numcomps)
        guard count > 0, let comps = image.pointee.comps else { throw DICOMError(.malformed, "JPEG 2000: no components", tag: .pixelData) }
        let first = comps[0]
        let width = Int(first.w), height = Int(first.h)
        for c in 0..<count where Int(comps[c].w) != width || Int(comps[c].h) != height || comps[c].data == nil {
            throw DICOMError(.unsupportedTransferSyntax, "JPEG 2000 with subsampled components is not supported")
        }
        let pixels = width * height
        var samples = [Int32](repeating: 0, count: pixels * count)
        samples.withUnsafeMutableBufferPointer { out in
            for c in 0..<count {
                let data = comps[c].data!
                for i in 0..<pixels { out[i * count + c] = data[i] }
            }
        }
        return Image(width: width, height: height, components: count, precision: Int(first.prec), isSigned: first.sgnd != 0, samples: samples)
    }
}

/// A NUL-terminated C message buffer as text.
func cText(_ buffer: [CChar]) -> String {
    let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self)
}
