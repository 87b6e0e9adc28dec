import DICOM
import Foundation

/// RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, then
/// one PackBits segment per byte of each sample, most significant byte first.
public enum RLECodec {
    /// Decodes one frame to native little-endian samples, colour-by-pixel.
    public static func decode(_ frame: Data, pixel: ImagePixel) throws(DICOMError) -> Data {
        let bytesPerSample = pixel.bytesPerSample
        guard bytesPerSample > 0 else { throw DICOMError(.unsupportedTransferSyntax, "RLE Lossless with Bits Allocated 1 is not supported") }
        let segmentCount = pixel.samplesPerPixel * bytesPerSample
        let pixels = pixel.rows * pixel.columns
        guard frame.count >= 64 else { throw DICOMError(.malformed, "RLE frame shorter than its 64-byte header", tag: .pixelData) }
        var out = Data(count: pixels * segmentCount)
        let failure: DICOMError? = frame.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> DICOMError? in
            let count = Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
            guard count == segmentCount else {
                return DICOMError(.malformed, "RLE frame has \(count) segments, the image needs \(segmentCount)", tag: .pixelData)
            }
            var offsets: [Int] = (0..<count).map { Int(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 + 4 * $0, as: UInt32.self))) }
            offsets.append(raw.count)
            return out.withUnsafeMutableBytes { (dst: UnsafeMutableRawBufferPointer) -> DICOMError? in
                let base = dst.bindMemory(to: UInt8.self).baseAddress!
                for segment in 0..<count {
                    let start = offsets[segment], end = min(offsets[segment + 1], raw.count)
                    guard start >= 64, start <= end else {
                        return DICOMError(.malformed, "RLE segment \(segment + 1) offset \(start) is out of bounds", tag: .pixelData)
                    }
                    let sample = segment / bytesPerSample
                    let byteIndex = bytesPerSample - 1 - segment % bytesPerSample   // little-endian position
                    // Output byte k of this segment lands at pixel k.
                    let stride = segmentCount
                    var position = sample * bytesPerSample + byteIndex
                    let limit = pixels
                    var produced = 0
                    var i = start
                    while produced < limit && i < end {
                        let n = Int(Int8(bitPattern: raw[i]))
                        i += 1
                        if n >= 0 {
                            let run = min(n + 1, limit - produced, end - i)
                            for k in 0..<run { base[position] = raw[i + k]; position += stride }
                            produced += run
                            i += n + 1
                        } else if n != -128 {
                            guard i < end else { break }
                            let value = raw[i]
                            i += 1
                            let run = min(1 - n, limit - produced)
                            for _ in 0..<run { base[position] = value; position += stride }
                            produced += run
                        }
                    }
                    if produced < limit {
                        return DICOMError(.malformed, "RLE segment \(segment + 1) decodes to \(produced) bytes, the image needs \(limit)", tag: .pixelData)
                    }
                }
                return nil
            }
        }
        if let failure { throw failure }
        return out
    }

    /// Encodes one native frame (little-endian samples, Planar Configuration
    /// as in `pixel`) as an RLE Lossless fragment. Rows are encoded separately.
    public static func encode(_ frame: Data, pixel: ImagePixel) throws(DICOMError) -> Data {
        let bytesPerSample = pixel.bytesPerSample
        guard bytesPerSample > 0 else { throw DICOMError(.unsupportedTransferSyntax, "RLE Lossless with Bits Allocated 1 is not supported") }
        let segmentCount = pixel.samplesPerPixel * bytesPerSample
        guard segmentCount <= 15 else { throw DICOMError(.invalidValue, "RLE Lossless holds at most 15 segments; this image needs \(segmentCount)") }
        guard frame.count >= pixel.frameLength else { throw DICOMError(.malformed, "frame shorter than Rows × Columns × samples", tag: .pixelData) }
        let rows = pixel.rows, columns = pixel.columns, samples = pixel.samplesPerPixel
        var out = [UInt8](repeating: 0, count: 64)
        var row = [UInt8](repeating: 0, count: columns)
        out.withUnsafeMutableBytes { header in header.storeBytes(of: UInt32(segmentCount).littleEndian, toByteOffset: 0, as: UInt32.self) }
        frame.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            for segment in 0..<segmentCount {
                let offset = UInt32(out.count)
                out.withUnsafeMutableBytes { header in header.storeBytes(of: offset.littleEndian, toByteOffset: 4 + 4 * segment, as: UInt32.self) }
                let sample = segment / bytesPerSample
                let byteIndex = bytesPerSample - 1 - segment % bytesPerSample
                for y in 0..<rows {
                    for x in 0..<columns {
                        let index: Int
                        if pixel.planarConfiguration == 1 {
                            index = ((sample * rows + y) * columns + x) * bytesPerSample + byteIndex
                        } else {
                            index = ((y * columns + x) * samples + sample) * bytesPerSample + byteIndex
                        }
                        row[x] = raw[index]
                    }
                    packBits(row, into: &out)
                }
                if out.count % 2 == 1 { out.append(0) }
            }
        }
        return Data(out)
    }

    /// PackBits (PS3.5 §G.3.1): replicate runs of 2–128 equal bytes, literal
    /// runs of up to 128.
    static func packBits(_ bytes: [UInt8], into out: inout [UInt8]) {
        var i = 0
        let n = bytes.count
        while i < n {
            var run = 1
            while i + run < n && run < 128 && bytes[i + run] == bytes[i] { run += 1 }
            if run >= 2 {
                out.append(UInt8(bitPattern: Int8(1 - run)))
                out.append(bytes[i])
                i += run
                continue
            }
            // Literal: up to the next pair of equal bytes.
            var end = i + 1
            while end < n && end - i < 128 && !(end + 1 < n && bytes[end] == bytes[end + 1]) { end += 1 }
            out.append(UInt8(end - i - 1))
            out.append(contentsOf: bytes[i..<end])
            i = end
        }
    }
}
