import CPNG
import CTIFF
import CTurboJPEG
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

/// The decoders: libjpeg-turbo (JPEG through the TurboJPEG API, BMP through
/// its `tjLoadImage`), libpng (simplified API), libtiff. Each gives what
/// Pillow gives for the same file converted to `L`/`RGB` (alpha dropped,
/// palettes expanded, CMYK converted with Pillow's formula), so the result
/// can be checked against an independent reference decode.
public enum ImageDecoder {
    // MARK: JPEG

    /// Decodes a JPEG (any process libjpeg-turbo reads: baseline, extended
    /// 8-bit, progressive, arithmetic) with the accurate integer IDCT and
    /// fancy upsampling (libjpeg's defaults, as Pillow uses them).
    public static func jpeg(_ data: Data, adobeTransform: Int? = nil, path: String? = nil) throws(ConvertError) -> DecodedImage {
        guard let handle = tjInitDecompress() else { throw ConvertError(.io, "cannot start the JPEG decoder", path: path) }
        defer { tjDestroy(handle) }
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        var result: Result<DecodedImage, ConvertError> = .failure(ConvertError(.damaged, "JPEG does not decode", path: path))
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            guard tjDecompressHeader3(handle, base, UInt(raw.count), &width, &height, &subsampling, &colorspace) == 0 else {
                result = .failure(ConvertError(.damaged, "JPEG header does not decode: \(String(cString: tjGetErrorStr2(handle)))", path: path))
                return
            }
            let cmyk = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
            let gray = colorspace == Int32(TJCS_GRAY.rawValue)
            let format = cmyk ? TJPF_CMYK : (gray ? TJPF_GRAY : TJPF_RGB)
            let channels = cmyk ? 4 : (gray ? 1 : 3)
            var pixels = Data(count: Int(width) * Int(height) * channels)
            let rc = pixels.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
                tjDecompress2(handle, base, UInt(raw.count), dst.baseAddress!.assumingMemoryBound(to: UInt8.self),
                              width, 0, height, Int32(format.rawValue), TJFLAG_STOPONWARNING)
            }
            guard rc == 0 else {
                result = .failure(ConvertError(.damaged, "JPEG data does not decode (truncated or corrupt): \(String(cString: tjGetErrorStr2(handle)))", path: path))
                return
            }
            if cmyk { pixels = cmykToRGB(pixels, inverted: adobeTransform != nil) }
            result = .success(DecodedImage(columns: Int(width), rows: Int(height), samplesPerPixel: gray ? 1 : 3,
                                           bitsAllocated: 8, frames: [pixels]))
        }
        return try result.get()
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

    /// Decodes a PNG: grayscale stays grayscale (16-bit stays 16-bit),
    /// colour and palettes become RGB, alpha is dropped (not composited).
    public static func png(_ data: Data, path: String? = nil) throws(ConvertError) -> DecodedImage {
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
        let deep = image.format & UInt32(PNG_FORMAT_FLAG_LINEAR) != 0 && !color
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
        if alpha { buffer = dropChannel(buffer, pixels: width * height, channels: channels, keep: samples, bytesPerChannel: bytesPerChannel) }
        return DecodedImage(columns: width, rows: height, samplesPerPixel: samples, bitsAllocated: 8 * bytesPerChannel, frames: [buffer])
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

    /// Decodes a Windows BMP with libjpeg-turbo's `tjLoadImage` (the reader
    /// of its cjpeg tool): grayscale palettes stay grayscale, all else RGB.
    public static func bmp(path: String) throws(ConvertError) -> DecodedImage {
        var width: Int32 = 0, height: Int32 = 0
        var format = Int32(TJPF_UNKNOWN.rawValue)
        guard let buffer = tjLoadImage(path, &width, 1, &height, &format, 0) else {
            throw ConvertError(.damaged, "BMP does not decode: \(String(cString: tjGetErrorStr2(nil)))", path: path)
        }
        defer { tjFree(buffer) }
        let count = Int(width) * Int(height)
        if format == Int32(TJPF_GRAY.rawValue) {
            return DecodedImage(columns: Int(width), rows: Int(height), samplesPerPixel: 1, bitsAllocated: 8,
                                frames: [Data(bytes: buffer, count: count)])
        }
        // Red, green, blue offsets and pixel size of the format it chose.
        let layout: (r: Int, g: Int, b: Int, size: Int)
        switch format {
        case TJPF_RGB.rawValue: layout = (0, 1, 2, 3)
        case TJPF_BGR.rawValue: layout = (2, 1, 0, 3)
        case TJPF_RGBX.rawValue, TJPF_RGBA.rawValue: layout = (0, 1, 2, 4)
        case TJPF_BGRX.rawValue, TJPF_BGRA.rawValue: layout = (2, 1, 0, 4)
        case TJPF_XBGR.rawValue, TJPF_ABGR.rawValue: layout = (3, 2, 1, 4)
        case TJPF_XRGB.rawValue, TJPF_ARGB.rawValue: layout = (1, 2, 3, 4)
        default: throw ConvertError(.unsupported, "BMP pixel format \(format) is not supported", path: path)
        }
        var out = Data(count: count * 3)
        out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
            for p in 0..<count {
                let s = p * layout.size
                dst[3 * p] = buffer[s + layout.r]
                dst[3 * p + 1] = buffer[s + layout.g]
                dst[3 * p + 2] = buffer[s + layout.b]
            }
        }
        return DecodedImage(columns: Int(width), rows: Int(height), samplesPerPixel: 3, bitsAllocated: 8, frames: [out])
    }

    // MARK: TIFF

    /// Decodes every page (directory) of a TIFF. 8- and 16-bit grayscale
    /// strips are read as stored; everything else through libtiff's RGBA
    /// interface (any photometric, compression and layout libtiff knows).
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
            if var last = merged.last, last.columns == image.columns, last.rows == image.rows,
               last.samplesPerPixel == image.samplesPerPixel, last.bitsAllocated == image.bitsAllocated {
                last.frames += image.frames
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
        if samples == 1, bits == 8 || bits == 16, photometric == PHOTOMETRIC_MINISBLACK,
           planar == PLANARCONFIG_CONTIG, TIFFIsTiled(tif) == 0 {
            let rowBytes = width * bits / 8
            var out = Data(count: rowBytes * height)
            var failed = false
            out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) in
                for row in 0..<height where !failed {
                    if TIFFReadScanline(tif, dst.baseAddress! + row * rowBytes, UInt32(row), 0) != 1 { failed = true }
                }
            }
            if failed { throw ConvertError(.damaged, "TIFF page \(page) is truncated or corrupt", path: path) }
            // 16-bit samples come in host order (libtiff swaps): little endian here.
            return DecodedImage(columns: width, rows: height, samplesPerPixel: 1, bitsAllocated: bits, frames: [out])
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
        return DecodedImage(columns: width, rows: height, samplesPerPixel: channels, bitsAllocated: 8, frames: [out])
    }
}
