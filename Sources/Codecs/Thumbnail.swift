import DICOM
import Foundation

/// Renderings for the IHE PDI web content: the first frame, through the
/// modality LUT (Rescale Slope/Intercept) and the VOI LUT (VOI LUT Sequence,
/// else Window Center/Width, else the frame's range), MONOCHROME1 inverted,
/// scaled down to fit `maxSize`, as a baseline JPEG.
public enum Thumbnail {
    public static func render(file: DICOMFile, maxSize: Int = 256, quality: Int = 85) throws(DICOMError) -> Data {
        let image = try rgbOrGrey(file: file)
        let scaled = downscale(image.samples, width: image.width, height: image.height, components: image.components, maxSize: maxSize)
        return try LibJPEG.encode(scaled.samples, width: scaled.width, height: scaled.height, components: image.components, quality: quality)
    }

    /// The rendered first frame at full size: 8-bit grey or RGB samples.
    public static func rgbOrGrey(file: DICOMFile) throws(DICOMError) -> (width: Int, height: Int, components: Int, samples: [UInt8]) {
        let decoded = try PixelDecoder.decode(file)
        var pixel = decoded.pixel
        var frame = [UInt8](decoded.frame(0))
        if pixel.isSubsampled422 {
            frame = fullChrominance(frame, pixel: pixel)
            pixel.photometricInterpretation = "YBR_FULL"
            pixel.planarConfiguration = 0
        }
        let count = pixel.rows * pixel.columns
        let values = samples(frame, pixel: pixel)
        let dataset = file.dataset
        switch pixel.photometricInterpretation {
        case "MONOCHROME1", "MONOCHROME2":
            let slope = dataset.doubles(.rescaleSlope).first ?? 1
            let intercept = dataset.doubles(.rescaleIntercept).first ?? 0
            let modality = values.map { Double($0) * slope + intercept }
            var grey = voi(modality, dataset: dataset)
            if pixel.photometricInterpretation == "MONOCHROME1" { grey = grey.map { 255 - $0 } }
            return (pixel.columns, pixel.rows, 1, grey)
        case "RGB", "YBR_FULL":
            let shift = max(0, pixel.bitsStored - 8)
            var rgb = [UInt8](repeating: 0, count: count * 3)
            for i in 0..<count {
                for c in 0..<3 {
                    let index = pixel.planarConfiguration == 1 ? c * count + i : i * 3 + c
                    rgb[i * 3 + c] = UInt8(clamping: values[index] >> shift)
                }
            }
            if pixel.photometricInterpretation == "YBR_FULL" {
                for i in 0..<count {
                    let y = Double(rgb[3 * i]), cb = Double(rgb[3 * i + 1]) - 128, cr = Double(rgb[3 * i + 2]) - 128
                    rgb[3 * i] = UInt8(clamping: Int((y + 1.402 * cr).rounded()))
                    rgb[3 * i + 1] = UInt8(clamping: Int((y - 0.344136 * cb - 0.714136 * cr).rounded()))
                    rgb[3 * i + 2] = UInt8(clamping: Int((y + 1.772 * cb).rounded()))
                }
            }
            return (pixel.columns, pixel.rows, 3, rgb)
        case "PALETTE COLOR":
            var rgb = [UInt8](repeating: 0, count: count * 3)
            for (c, tags) in [(Tag.redPaletteColorLookupTableDescriptor, Tag.redPaletteColorLookupTableData),
                              (.greenPaletteColorLookupTableDescriptor, .greenPaletteColorLookupTableData),
                              (.bluePaletteColorLookupTableDescriptor, .bluePaletteColorLookupTableData)].enumerated() {
                let descriptor = dataset.integers(tags.0)
                guard descriptor.count == 3, let data = dataset[tags.1]?.bytes else {
                    throw DICOMError(.unsupportedTransferSyntax, "PALETTE COLOR without a (non-segmented) palette cannot be rendered")
                }
                let entries = descriptor[0] == 0 ? 65536 : descriptor[0]
                let first = pixel.isSigned ? Int(Int16(truncatingIfNeeded: descriptor[1])) : descriptor[1]
                let bits = descriptor[2]
                let table = bits == 8 && data.count == entries ? [UInt8](data).map(Int.init) : DICOMBinary.integers(data, vr: .US)
                let shift = bits > 8 ? bits - 8 : 0
                for i in 0..<count {
                    let index = min(max(values[i] - first, 0), table.count - 1)
                    rgb[i * 3 + c] = UInt8(clamping: table.isEmpty ? 0 : table[index] >> shift)
                }
            }
            return (pixel.columns, pixel.rows, 3, rgb)
        default:
            throw DICOMError(.unsupportedTransferSyntax, "no rendering for Photometric Interpretation \(pixel.photometricInterpretation)")
        }
    }

    /// Stored values of a native frame, sign-extended from Bits Stored.
    /// Native YBR_FULL_422 (Y1 Y2 Cb Cr for each pair of pixels in a row)
    /// as YBR_FULL colour-by-pixel, each pair's chrominance given to both.
    static func fullChrominance(_ frame: [UInt8], pixel: ImagePixel) -> [UInt8] {
        let bytes = max(1, pixel.bytesPerSample)
        var out = [UInt8](repeating: 0, count: pixel.rows * pixel.columns * 3 * bytes)
        let pairs = (pixel.columns + 1) / 2
        for y in 0..<pixel.rows {
            for pair in 0..<pairs {
                let source = ((y * pixel.columns + 2 * pair) * 2) * bytes    // 4 samples per pair of pixels
                guard source + 4 * bytes <= frame.count else { continue }
                for k in 0..<2 where 2 * pair + k < pixel.columns {
                    let target = ((y * pixel.columns + 2 * pair + k) * 3) * bytes
                    for b in 0..<bytes {
                        out[target + b] = frame[source + k * bytes + b]                 // Y1 or Y2
                        out[target + bytes + b] = frame[source + 2 * bytes + b]         // Cb
                        out[target + 2 * bytes + b] = frame[source + 3 * bytes + b]     // Cr
                    }
                }
            }
        }
        return out
    }

    static func samples(_ frame: [UInt8], pixel: ImagePixel) -> [Int] {
        let n = pixel.rows * pixel.columns * pixel.samplesPerPixel
        let mask = (1 << pixel.bitsStored) - 1
        let signBit = 1 << (pixel.bitsStored - 1)
        var out = [Int](repeating: 0, count: n)
        for i in 0..<n {
            var v: Int
            switch pixel.bitsAllocated {
            case 1: v = Int(frame[i / 8] >> UInt8(i % 8)) & 1
            case 8: v = Int(frame[i])
            case 16: v = Int(frame[2 * i]) | Int(frame[2 * i + 1]) << 8
            default: v = Int(frame[4 * i]) | Int(frame[4 * i + 1]) << 8 | Int(frame[4 * i + 2]) << 16 | Int(frame[4 * i + 3]) << 24
            }
            if pixel.bitsAllocated > 1 {
                v &= mask
                if pixel.isSigned && v & signBit != 0 { v -= mask + 1 }
            }
            out[i] = v
        }
        return out
    }

    /// VOI LUT (PS3.3 §C.11.2): the first LUT of the VOI LUT Sequence, else
    /// the first Window Center/Width (LINEAR, LINEAR_EXACT or SIGMOID), else
    /// the value range.
    static func voi(_ values: [Double], dataset: Dataset) -> [UInt8] {
        if let lut = dataset.items(.voilutSequence).first, let data = lut[.lutData]?.bytes {
            let descriptor = lut.integers(.lutDescriptor)
            if descriptor.count == 3 {
                let entries = descriptor[0] == 0 ? 65536 : descriptor[0]
                let first = descriptor[1] >= 32768 ? descriptor[1] - 65536 : descriptor[1]
                let bits = descriptor[2]
                let table = lut[.lutData]?.vr == .OB || (bits <= 8 && data.count == entries) ? [UInt8](data).map(Int.init) : DICOMBinary.integers(data, vr: .US)
                if !table.isEmpty {
                    let top = Double((1 << bits) - 1)
                    return values.map { v in
                        let index = min(max(Int(v.rounded(.down)) - first, 0), table.count - 1)
                        return UInt8(clamping: Int((Double(table[index]) / top * 255).rounded()))
                    }
                }
            }
        }
        let centers = dataset.doubles(.windowCenter), widths = dataset.doubles(.windowWidth)
        if let c = centers.first, let w = widths.first, w > 0 {
            let function = dataset.firstString(.voilutFunction) ?? "LINEAR"
            return values.map { x in
                let y: Double
                switch function {
                case "SIGMOID": y = 255 / (1 + exp(-4 * (x - c) / w))
                case "LINEAR_EXACT": y = x <= c - w / 2 ? 0 : x > c + w / 2 ? 255 : ((x - c) / w + 0.5) * 255
                default:
                    if w < 1 { y = x <= c - 0.5 ? 0 : 255 }
                    else if x <= c - 0.5 - (w - 1) / 2 { y = 0 }
                    else if x > c - 0.5 + (w - 1) / 2 { y = 255 }
                    else { y = ((x - (c - 0.5)) / (w - 1) + 0.5) * 255 }
                }
                return UInt8(clamping: Int(y.rounded()))
            }
        }
        guard let low = values.min(), let high = values.max(), high > low else { return values.map { _ in 0 } }
        return values.map { UInt8(clamping: Int((($0 - low) / (high - low) * 255).rounded())) }
    }

    /// Area-average reduction so the longer side is at most `maxSize`; never enlarges.
    static func downscale(_ samples: [UInt8], width: Int, height: Int, components: Int, maxSize: Int) -> (width: Int, height: Int, samples: [UInt8]) {
        let longer = max(width, height)
        guard longer > maxSize, maxSize > 0 else { return (width, height, samples) }
        let outWidth = max(1, width * maxSize / longer), outHeight = max(1, height * maxSize / longer)
        var out = [UInt8](repeating: 0, count: outWidth * outHeight * components)
        for oy in 0..<outHeight {
            let y0 = oy * height / outHeight, y1 = max(y0 + 1, (oy + 1) * height / outHeight)
            for ox in 0..<outWidth {
                let x0 = ox * width / outWidth, x1 = max(x0 + 1, (ox + 1) * width / outWidth)
                for c in 0..<components {
                    var sum = 0
                    for y in y0..<y1 { for x in x0..<x1 { sum += Int(samples[(y * width + x) * components + c]) } }
                    out[(oy * outWidth + ox) * components + c] = UInt8(sum / ((y1 - y0) * (x1 - x0)))
                }
            }
        }
        return (outWidth, outHeight, out)
    }
}
