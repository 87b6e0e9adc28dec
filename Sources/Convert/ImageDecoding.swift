import Codecs
import CPNG
import CTIFF
import Foundation

/// Decoded pixels, ready for uncompressed Pixel Data: one or more frames of
/// the same size, interleaved samples (planar configuration 0), 8 bits, or
/// 16 bits little endian for deep grayscale.
public struct DecodedImage: Sendable, Equatable {
    public var columns: Int
    public var rows: Int
    /// 1 (MONOCHROME2) or 3 (RGB).
    public var samplesPerPixel: Int
    /// 8 or 16.
    public var bitsAllocated: Int
    public var frames: [Data]
    /// What decoding left out that the picture had (for the conversion's notes).
    public var notes: [String] = []

    public var photometricInterpretation: String { samplesPerPixel == 1 ? "MONOCHROME2" : "RGB" }
    public var frameSize: Int { columns * rows * samplesPerPixel * bitsAllocated / 8 }

    public init(columns: Int, rows: Int, samplesPerPixel: Int, bitsAllocated: Int, frames: [Data]) {
        self.columns = columns
        self.rows = rows
        self.samplesPerPixel = samplesPerPixel
        self.bitsAllocated = bitsAllocated
        self.frames = frames
    }

    /// The same picture turned as EXIF Orientation `orientation` (1–8)
    /// asks, so that it shows upright (TIFF 6.0 / EXIF 2.3 §4.6.4).
    public func oriented(_ orientation: Int) -> DecodedImage {
        guard (2...8).contains(orientation) else { return self }
        let w = columns, h = rows
        let swaps = orientation >= 5
        let ow = swaps ? h : w, oh = swaps ? w : h
        let bpp = samplesPerPixel * bitsAllocated / 8
        let turned = frames.map { frame -> Data in
            var out = Data(count: frame.count)
            frame.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
                out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
                    for oy in 0..<oh {
                        for ox in 0..<ow {
                            let (sx, sy): (Int, Int)
                            switch orientation {
                            case 2: (sx, sy) = (w - 1 - ox, oy)
                            case 3: (sx, sy) = (w - 1 - ox, h - 1 - oy)
                            case 4: (sx, sy) = (ox, h - 1 - oy)
                            case 5: (sx, sy) = (oy, ox)
                            case 6: (sx, sy) = (oy, h - 1 - ox)
                            case 7: (sx, sy) = (w - 1 - oy, h - 1 - ox)
                            default: (sx, sy) = (w - 1 - oy, ox)
                            }
                            let s = (sy * w + sx) * bpp, d = (oy * ow + ox) * bpp
                            for k in 0..<bpp { dst[d + k] = src[s + k] }
                        }
                    }
                }
            }
            return out
        }
        return DecodedImage(columns: ow, rows: oh, samplesPerPixel: samplesPerPixel, bitsAllocated: bitsAllocated, frames: turned)
    }
}

/// The decoders of loose image files: JPEG through Codecs (libjpeg-turbo,
/// the one JPEG decoder discport has), PNG through libpng's simplified
/// API, TIFF through libtiff, BMP here. Each gives what Pillow gives for
/// the same file converted to `L`/`RGB` (alpha dropped, palettes expanded,
/// CMYK converted with Pillow's formula), so the result can be checked
/// against an independent reference decode.
public enum ImageDecoder {
    // MARK: JPEG

    /// Decodes an 8-bit JPEG (any process libjpeg-turbo reads: baseline,
    /// extended, progressive, arithmetic) with Codecs' ``LibJPEG``;
    /// truncated or corrupt data is an error, not grey filler. CMYK/YCCK
    /// becomes RGB; `adobeTransform` (an Adobe APP14 marker) means the
    /// CMYK is stored inverted.
    public static func jpeg(_ data: Data, adobeTransform: Int? = nil, path: String? = nil) throws(ConvertError) -> DecodedImage {
        let image: LibJPEG.Image
        do {
            image = try LibJPEG.decode(data, colour: .asMarked, strict: true)
        } catch {
            throw ConvertError(.damaged, "JPEG does not decode (truncated or corrupt): \(error.message)", path: path)
        }
        switch image.components {
        case 1, 3:
            return DecodedImage(columns: image.width, rows: image.height, samplesPerPixel: image.components, bitsAllocated: 8,
                                frames: [image.samples])
        case 4:
            return DecodedImage(columns: image.width, rows: image.height, samplesPerPixel: 3, bitsAllocated: 8,
                                frames: [cmykToRGB(image.samples, inverted: adobeTransform != nil)])
        default:
            throw ConvertError(.unsupported, "JPEG with \(image.components) components is not supported", path: path)
        }
    }

    /// CMYK to RGB as Pillow converts (`cmyk2rgb`): each channel
    /// (255 − K) − C·(255 − K)/255. Adobe (Photoshop) files store CMYK
    /// inverted; Pillow reads them as `CMYK;I`.
    static func cmykToRGB(_ cmyk: Data, inverted: Bool) -> Data {
        let count = cmyk.count / 4
        var out = Data(count: count * 3)
        cmyk.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
                for p in 0..<count {
                    func at(_ k: Int) -> Int { let v = Int(src[4 * p + k]); return inverted ? 255 - v : v }
                    let nk = 255 - at(3)
                    for c in 0..<3 {
                        let t = at(c) * nk + 128
                        let mul = ((t >> 8) + t) >> 8
                        dst[3 * p + c] = UInt8(clamping: nk - mul)
                    }
                }
            }
        }
        return out
    }

    // MARK: PNG

    /// Decodes a PNG: grayscale stays grayscale, colour and palettes become
    /// RGB, 16-bit stays 16-bit, alpha is dropped (not composited; 16-bit:
    /// composited onto black, libpng's linear output being premultiplied).
    /// The samples are the file's: libpng's simplified API would convert
    /// them to and from the gamma a gAMA, sRGB, iCCP or cHRM chunk declares
    /// (and 16-bit colour to 8-bit sRGB), so those chunks are left out of
    /// what it reads, and it is asked for the file's own depth (8-bit is
    /// then taken as sRGB and given as it is, 16-bit as linear, likewise).
    public static func png(_ data: Data, path: String? = nil) throws(ConvertError) -> DecodedImage {
        let data = withoutColourSpaceChunks(data)
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        func message() -> String {
            withUnsafeBytes(of: image.message) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
        }
        let begun = data.withUnsafeBytes { raw in png_image_begin_read_from_memory(&image, raw.baseAddress, raw.count) }
        guard begun != 0 else { throw ConvertError(.damaged, "PNG does not decode: \(message())", path: path) }
        defer { png_image_free(&image) }
        let color = image.format & UInt32(PNG_FORMAT_FLAG_COLOR) != 0
        let alpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        let deep = image.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0
        var format: UInt32 = color ? UInt32(PNG_FORMAT_FLAG_COLOR) : 0
        if alpha { format |= UInt32(PNG_FORMAT_FLAG_ALPHA) }
        if deep { format |= UInt32(PNG_FORMAT_FLAG_LINEAR) }
        image.format = format
        let channels = (color ? 3 : 1) + (alpha ? 1 : 0)
        let bytesPerChannel = deep ? 2 : 1
        let width = Int(image.width), height = Int(image.height)
        var buffer = Data(count: width * height * channels * bytesPerChannel)
        let finished = buffer.withUnsafeMutableBytes { raw in png_image_finish_read(&image, nil, raw.baseAddress, 0, nil) }
        guard finished != 0 else { throw ConvertError(.damaged, "PNG does not decode: \(message())", path: path) }
        let samples = color ? 3 : 1
        var notes: [String] = []
        if alpha {
            let seeThrough = notOpaque(buffer, pixels: width * height, channels: channels, bytesPerChannel: bytesPerChannel)
            if seeThrough > 0 {
                // DICOM pixels have no transparency: said, not dropped without a word.
                notes.append("transparency left out: \(seeThrough) of \(width * height) pixels are not opaque; "
                             + (deep ? "they are composited onto black" : "their stored colours are shown as they are"))
            }
            buffer = dropChannel(buffer, pixels: width * height, channels: channels, keep: samples, bytesPerChannel: bytesPerChannel)
        }
        var decoded = DecodedImage(columns: width, rows: height, samplesPerPixel: samples, bitsAllocated: 8 * bytesPerChannel, frames: [buffer])
        decoded.notes = notes
        return decoded
    }

    /// `png` without its gAMA, sRGB, iCCP and cHRM chunks (the file as it is
    /// when its chunks cannot be walked: libpng then says what is wrong).
    static func withoutColourSpaceChunks(_ png: Data) -> Data {
        let bytes = [UInt8](png)
        guard bytes.count > 8 else { return png }
        let dropped: Set<String> = ["gAMA", "sRGB", "iCCP", "cHRM"]
        var out = [UInt8](bytes[0..<8])
        var i = 8
        var changed = false
        while i + 12 <= bytes.count {
            let length = Int(bytes[i]) << 24 | Int(bytes[i + 1]) << 16 | Int(bytes[i + 2]) << 8 | Int(bytes[i + 3])
            guard length >= 0, i + 12 + length <= bytes.count else { return png }
            let type = String(decoding: bytes[(i + 4)..<(i + 8)], as: UTF8.self)
            if dropped.contains(type) {
                changed = true
            } else {
                out.append(contentsOf: bytes[i..<(i + 12 + length)])
            }
            i += 12 + length
            if type == "IEND" { break }
        }
        guard changed else { return png }
        out.append(contentsOf: bytes[i...])
        return Data(out)
    }

    /// How many pixels have an alpha (the last channel) below its maximum.
    static func notOpaque(_ data: Data, pixels: Int, channels: Int, bytesPerChannel: Int) -> Int {
        data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            var count = 0
            let stride = channels * bytesPerChannel
            for p in 0..<pixels {
                let at = p * stride + (channels - 1) * bytesPerChannel
                if src[at] != 0xFF || (bytesPerChannel == 2 && src[at + 1] != 0xFF) { count += 1 }
            }
            return count
        }
    }

    /// Keeps the first `keep` channels of each pixel.
    static func dropChannel(_ data: Data, pixels: Int, channels: Int, keep: Int, bytesPerChannel: Int) -> Data {
        let inStride = channels * bytesPerChannel, outStride = keep * bytesPerChannel
        var out = Data(count: pixels * outStride)
        data.withUnsafeBytes { (src: UnsafeRawBufferPointer) in
            out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
                for p in 0..<pixels {
                    for k in 0..<outStride { dst[p * outStride + k] = src[p * inStride + k] }
                }
            }
        }
        return out
    }

    // MARK: BMP

    /// Decodes a Windows or OS/2 BMP: 1-, 4- and 8-bit palettes (a grey
    /// palette stays grayscale, others become RGB), 16-bit (5-5-5 or bit
    /// fields), 24-bit, 32-bit (BGRX or bit fields; alpha dropped);
    /// bottom-up or top-down. RLE and embedded JPEG/PNG BMPs are refused.
    public static func bmp(_ data: Data, path: String? = nil) throws(ConvertError) -> DecodedImage {
        let b = [UInt8](data)
        func damaged(_ why: String) -> ConvertError { ConvertError(.damaged, "BMP does not decode: \(why)", path: path) }
        func u16(_ i: Int) -> Int { Int(b[i]) | Int(b[i + 1]) << 8 }
        func u32(_ i: Int) -> Int { u16(i) | u16(i + 2) << 16 }
        guard b.count >= 26, b[0] == 0x42, b[1] == 0x4D else { throw damaged("no BM header") }
        let pixelOffset = u32(10), headerSize = u32(14)
        guard headerSize == 12 || headerSize >= 40, 14 + headerSize <= b.count else { throw damaged("unknown header size \(headerSize)") }
        let width: Int, signedHeight: Int, bpp: Int, compression: Int, paletteEntry: Int
        var colours = 0
        if headerSize == 12 {
            (width, signedHeight, bpp, compression, paletteEntry) = (u16(18), u16(20), u16(24), 0, 3)
        } else {
            width = Int(Int32(bitPattern: UInt32(u32(18))))
            signedHeight = Int(Int32(bitPattern: UInt32(u32(22))))
            (bpp, compression, paletteEntry) = (u16(28), u32(30), 4)
            colours = u32(46)
        }
        let height = abs(signedHeight), topDown = signedHeight < 0
        guard width > 0, height > 0, width * height < 1 << 28 else { throw damaged("no usable size (\(width)×\(height))") }
        // Bit fields: red, green, blue masks after a 40-byte header, or in a V4/V5 header.
        var masks: (r: UInt32, g: UInt32, b: UInt32)?
        switch compression {
        case 0: break
        case 3, 6:
            guard bpp == 16 || bpp == 32, 14 + 40 + 12 <= b.count else { throw damaged("bit fields with \(bpp) bits per pixel") }
            masks = (UInt32(u32(54)), UInt32(u32(58)), UInt32(u32(62)))
        case 1, 2: throw ConvertError(.unsupported, "RLE-compressed BMP is not supported", path: path)
        default: throw ConvertError(.unsupported, "BMP compression \(compression) (embedded JPEG/PNG) is not supported", path: path)
        }
        let stride = (width * bpp + 31) / 32 * 4
        guard [1, 4, 8, 16, 24, 32].contains(bpp) else { throw ConvertError(.unsupported, "\(bpp)-bit BMP is not supported", path: path) }
        guard pixelOffset >= 14 + headerSize, pixelOffset + stride * height <= b.count else { throw damaged("truncated") }

        var palette: [(r: UInt8, g: UInt8, b: UInt8)] = []
        if bpp <= 8 {
            let count = colours > 0 ? min(colours, 1 << bpp) : 1 << bpp
            let start = 14 + headerSize + (compression == 3 && headerSize == 40 ? 12 : 0)
            guard start + count * paletteEntry <= pixelOffset else { throw damaged("truncated palette") }
            for k in 0..<count {
                let e = start + k * paletteEntry
                palette.append((b[e + 2], b[e + 1], b[e]))
            }
        }
        let grey = bpp <= 8 && palette.allSatisfy { $0.r == $0.g && $0.g == $0.b }
        let channels = grey ? 1 : 3
        // A mask's shift and width; values scale to 8 bits as Pillow's
        // unpackers do (v · 255 / (2ⁿ − 1), truncated; 8 bits and more: the top 8).
        func field(_ mask: UInt32) -> (shift: UInt32, bits: UInt32) {
            let shift = UInt32(mask.trailingZeroBitCount)
            return mask == 0 ? (0, 0) : (shift, UInt32((~(mask >> shift)).trailingZeroBitCount))
        }
        let m = masks ?? (bpp == 16 ? (0x7C00, 0x03E0, 0x001F) : (0x00FF_0000, 0x0000_FF00, 0x0000_00FF))
        let fields = [field(m.r), field(m.g), field(m.b)]
        func scaled(_ value: UInt32, _ f: (shift: UInt32, bits: UInt32)) -> UInt8 {
            guard f.bits > 0 else { return 0 }
            let v = (value >> f.shift) & UInt32((UInt64(1) << f.bits) - 1)
            return f.bits >= 8 ? UInt8(truncatingIfNeeded: v >> (f.bits - 8)) : UInt8(v * 255 / ((1 << f.bits) - 1))
        }
        var out = Data(count: width * height * channels)
        var badIndex = false
        out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
            for y in 0..<height {
                let row = pixelOffset + (topDown ? y : height - 1 - y) * stride
                for x in 0..<width {
                    let d = (y * width + x) * channels
                    switch bpp {
                    case 1, 4, 8:
                        let bit = x * bpp
                        let index = Int(b[row + bit / 8] >> UInt8(8 - bpp - bit % 8)) & ((1 << bpp) - 1)
                        guard index < palette.count else { badIndex = true; continue }
                        let c = palette[index]
                        if grey { dst[d] = c.r } else { dst[d] = c.r; dst[d + 1] = c.g; dst[d + 2] = c.b }
                    case 24:
                        let s = row + 3 * x
                        dst[d] = b[s + 2]; dst[d + 1] = b[s + 1]; dst[d + 2] = b[s]
                    default:
                        let s = row + x * bpp / 8
                        let v = bpp == 16 ? UInt32(u16(s)) : UInt32(u32(s))
                        dst[d] = scaled(v, fields[0]); dst[d + 1] = scaled(v, fields[1]); dst[d + 2] = scaled(v, fields[2])
                    }
                }
            }
        }
        if badIndex { throw damaged("a pixel refers past the end of the palette") }
        return DecodedImage(columns: width, rows: height, samplesPerPixel: channels, bitsAllocated: 8, frames: [out])
    }

    // MARK: TIFF

    /// Decodes every page (directory) of a TIFF. 8- and 16-bit grayscale
    /// and RGB strips are read as stored; everything else through libtiff's
    /// RGBA interface (any photometric, compression and layout libtiff
    /// knows; 8 bits per sample, noted when the page had more).
    /// Pages of different size or kind are returned as separate images.
    public static func tiff(path: String) throws(ConvertError) -> [DecodedImage] {
        _ = silenceTIFF
        guard let tif = TIFFOpen(path, "r") else { throw ConvertError(.damaged, "TIFF cannot be opened (damaged or not a TIFF)", path: path) }
        defer { TIFFClose(tif) }
        var pages: [DecodedImage] = []
        var page = 0
        repeat {
            page += 1
            pages.append(try tiffPage(tif, page: page, path: path))
        } while TIFFReadDirectory(tif) == 1
        // Consecutive pages of the same geometry become frames of one image.
        var merged: [DecodedImage] = []
        for image in pages {
            // (16-bit RGB pages stay single frames: the multi-frame true
            // colour Secondary Capture holds 8-bit samples only.)
            if var last = merged.last, last.columns == image.columns, last.rows == image.rows,
               last.samplesPerPixel == image.samplesPerPixel, last.bitsAllocated == image.bitsAllocated,
               !(image.samplesPerPixel == 3 && image.bitsAllocated == 16) {
                last.frames += image.frames
                last.notes += image.notes
                merged[merged.count - 1] = last
            } else {
                merged.append(image)
            }
        }
        return merged
    }

    private static let silenceTIFF: Void = {
        TIFFSetErrorHandler(nil)
        TIFFSetWarningHandler(nil)
    }()

    private static func field16(_ tif: OpaquePointer, _ tag: Int32, default value: UInt16) -> UInt16 {
        var v: UInt16 = value
        let ok = withUnsafeMutablePointer(to: &v) { p in withVaList([p]) { TIFFVGetField(tif, UInt32(tag), $0) } }
        return ok == 1 ? v : value
    }

    private static func field32(_ tif: OpaquePointer, _ tag: Int32) -> UInt32 {
        var v: UInt32 = 0
        _ = withUnsafeMutablePointer(to: &v) { p in withVaList([p]) { TIFFVGetField(tif, UInt32(tag), $0) } }
        return v
    }

    private static func tiffPage(_ tif: OpaquePointer, page: Int, path: String) throws(ConvertError) -> DecodedImage {
        let width = Int(field32(tif, TIFFTAG_IMAGEWIDTH)), height = Int(field32(tif, TIFFTAG_IMAGELENGTH))
        guard width > 0, height > 0, width * height < 1 << 28 else {
            throw ConvertError(.damaged, "TIFF page \(page) has no usable size (\(width)×\(height))", path: path)
        }
        let samples = Int(field16(tif, TIFFTAG_SAMPLESPERPIXEL, default: 1))
        let bits = Int(field16(tif, TIFFTAG_BITSPERSAMPLE, default: 1))
        let photometric = Int32(field16(tif, TIFFTAG_PHOTOMETRIC, default: UInt16(PHOTOMETRIC_MINISBLACK)))
        let planar = Int32(field16(tif, TIFFTAG_PLANARCONFIG, default: UInt16(PLANARCONFIG_CONTIG)))
        let unsigned = field16(tif, TIFFTAG_SAMPLEFORMAT, default: UInt16(SAMPLEFORMAT_UINT)) == UInt16(SAMPLEFORMAT_UINT)
        if (samples == 1 && photometric == PHOTOMETRIC_MINISBLACK) || (samples == 3 && photometric == PHOTOMETRIC_RGB),
           bits == 8 || bits == 16, unsigned, planar == PLANARCONFIG_CONTIG, TIFFIsTiled(tif) == 0 {
            // Grey and RGB strips as stored: 16 bits stay 16 bits.
            let rowBytes = width * samples * bits / 8
            var out = Data(count: rowBytes * height)
            var failed = false
            out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
                for row in 0..<height where !failed {
                    if TIFFReadScanline(tif, dst.baseAddress! + row * rowBytes, UInt32(row), 0) != 1 { failed = true }
                }
            }
            if failed { throw ConvertError(.damaged, "TIFF page \(page) is truncated or corrupt", path: path) }
            // 16-bit samples come in host order (libtiff swaps): little endian here.
            return DecodedImage(columns: width, rows: height, samplesPerPixel: samples, bitsAllocated: bits, frames: [out])
        }
        var raster = [UInt32](repeating: 0, count: width * height)
        let ok = raster.withUnsafeMutableBufferPointer { buffer in
            TIFFReadRGBAImageOriented(tif, UInt32(width), UInt32(height), buffer.baseAddress, ORIENTATION_TOPLEFT, 1)
        }
        guard ok == 1 else { throw ConvertError(.damaged, "TIFF page \(page) does not decode (truncated, corrupt or an unsupported kind)", path: path) }
        let gray = samples == 1 && (photometric == PHOTOMETRIC_MINISBLACK || photometric == PHOTOMETRIC_MINISWHITE)
        let channels = gray ? 1 : 3
        var out = Data(count: width * height * channels)
        out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
            for p in 0..<(width * height) {
                let v = raster[p]   // ABGR: red in the low byte
                if gray {
                    dst[p] = UInt8(truncatingIfNeeded: v)
                } else {
                    dst[3 * p] = UInt8(truncatingIfNeeded: v)
                    dst[3 * p + 1] = UInt8(truncatingIfNeeded: v >> 8)
                    dst[3 * p + 2] = UInt8(truncatingIfNeeded: v >> 16)
                }
            }
        }
        var decoded = DecodedImage(columns: width, rows: height, samplesPerPixel: channels, bitsAllocated: 8, frames: [out])
        if bits > 8 {
            // libtiff's RGBA interface gives 8 bits per sample: said, not cut without a word.
            decoded.notes.append("page \(page): \(bits)-bit samples reduced to 8 bits (libtiff's RGBA reading of this kind of TIFF)")
        }
        return decoded
    }
}
