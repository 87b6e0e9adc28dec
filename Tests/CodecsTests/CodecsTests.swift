import DICOM
import Foundation
import Testing

@testable import Codecs

// MARK: - Helpers

/// A native image data set (explicit VR little endian) with the given samples.
private func nativeImage(rows: Int, columns: Int, samples: Int = 1, bits: Int = 16, stored: Int? = nil, signed: Bool = false,
                         photometric: String = "MONOCHROME2", frames: Int = 1, planar: Int = 0, pixels: Data) -> Dataset {
    var ds = Dataset()
    try! ds.setString("1.2.840.10008.5.1.4.1.1.7", vr: .UI, for: .sopClassUID)
    try! ds.setString("1.2.3.4.5", vr: .UI, for: .sopInstanceUID)
    ds.setIntegers([samples], vr: .US, for: .samplesPerPixel)
    try! ds.setString(photometric, vr: .CS, for: .photometricInterpretation)
    if samples > 1 { ds.setIntegers([planar], vr: .US, for: .planarConfiguration) }
    if frames > 1 { try! ds.setString("\(frames)", vr: .IS, for: .numberOfFrames) }
    ds.setIntegers([rows], vr: .US, for: .rows)
    ds.setIntegers([columns], vr: .US, for: .columns)
    ds.setIntegers([bits], vr: .US, for: .bitsAllocated)
    ds.setIntegers([stored ?? bits], vr: .US, for: .bitsStored)
    ds.setIntegers([(stored ?? bits) - 1], vr: .US, for: .highBit)
    ds.setIntegers([signed ? 1 : 0], vr: .US, for: .pixelRepresentation)
    ds.set(DataElement(tag: .pixelData, vr: bits > 8 ? .OW : .OB, bytes: pixels))
    return ds
}

private func le16(_ values: [Int]) -> Data {
    var out = Data()
    for v in values { out.append(UInt8(truncatingIfNeeded: v)); out.append(UInt8(truncatingIfNeeded: v >> 8)) }
    return out
}

private func encapsulated(_ dataset: Dataset, syntax: TransferSyntax, fragments: [Data], offsets: [Int] = []) -> DICOMFile {
    var ds = dataset
    ds.set(DataElement(tag: .pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(
        offsetTable: DICOMBinary.encode(integers: offsets, vr: .UL), fragments: fragments)), hasUndefinedLength: true))
    return DICOMFile(dataset: ds, transferSyntax: syntax)
}

/// A minimal lossless JPEG (T.81 process 14) encoder for the tests: one
/// component, every difference category coded with 5 bits.
private func losslessJPEG(_ samples: [Int], width: Int, height: Int, precision: Int, predictor: Int) -> Data {
    var out: [UInt8] = [0xFF, 0xD8]
    out += [0xFF, 0xC3, 0, 11, UInt8(precision), UInt8(height >> 8), UInt8(height & 255), UInt8(width >> 8), UInt8(width & 255), 1, 1, 0x11, 0]
    var counts = [UInt8](repeating: 0, count: 16)
    counts[4] = 17
    out += [0xFF, 0xC4, 0, UInt8(2 + 17 + 17), 0x00] + counts + (0...16).map { UInt8($0) }
    out += [0xFF, 0xDA, 0, 8, 1, 1, 0x00, UInt8(predictor), 0, 0]
    var accumulator = 0, count = 0
    func put(_ value: Int, _ bits: Int) {
        for i in stride(from: bits - 1, through: 0, by: -1) {
            accumulator = accumulator << 1 | (value >> i & 1)
            count += 1
            if count == 8 {
                out.append(UInt8(accumulator))
                if accumulator == 0xFF { out.append(0) }
                accumulator = 0; count = 0
            }
        }
    }
    for y in 0..<height {
        for x in 0..<width {
            let i = y * width + x
            let prediction: Int
            if i == 0 { prediction = 1 << (precision - 1) }
            else if y == 0 { prediction = samples[i - 1] }
            else if x == 0 { prediction = samples[i - width] }
            else {
                let ra = samples[i - 1], rb = samples[i - width], rc = samples[i - width - 1]
                switch predictor {
                case 1: prediction = ra
                case 2: prediction = rb
                case 3: prediction = rc
                case 4: prediction = ra + rb - rc
                case 5: prediction = ra + ((rb - rc) >> 1)
                case 6: prediction = rb + ((ra - rc) >> 1)
                default: prediction = (ra + rb) >> 1
                }
            }
            var diff = (samples[i] - prediction) & 0xFFFF
            if diff >= 32768 { diff -= 65536 }
            if diff == -32768 { put(16, 5); continue }
            let category = diff == 0 ? 0 : (Int.bitWidth - abs(diff).leadingZeroBitCount)
            put(category, 5)
            if category > 0 { put(diff >= 0 ? diff : diff - 1 + (1 << category), category) }
        }
    }
    if count > 0 { put((1 << (8 - count)) - 1, 8 - count) }
    out += [0xFF, 0xD9]
    return Data(out)
}

// MARK: - RLE

@Test func packBitsRunsAndLiterals() throws {
    var row = [UInt8](repeating: 7, count: 300)               // runs longer than 128
    row += (0..<200).map { UInt8($0 % 251) }                   // literals longer than 128
    row += [1, 1, 2, 3, 3, 3]
    let pixel = ImagePixel(rows: 1, columns: row.count, samplesPerPixel: 1, bitsAllocated: 8, bitsStored: 8, photometricInterpretation: "MONOCHROME2")
    let encoded = try RLECodec.encode(Data(row), pixel: pixel)
    #expect(encoded.count % 2 == 0)
    #expect(try RLECodec.decode(encoded, pixel: pixel) == Data(row))
}

@Test(arguments: [8, 16, 32]) func rleRoundTripColourFrames(bits: Int) throws {
    let rows = 5, columns = 7, frames = 2
    let pixel = ImagePixel(rows: rows, columns: columns, samplesPerPixel: 3, bitsAllocated: bits, bitsStored: bits,
                           photometricInterpretation: "RGB", numberOfFrames: frames)
    var generator = SystemRandomNumberGenerator()
    let native = Data((0..<(pixel.frameLength * frames)).map { i in i % 5 == 0 ? 9 : UInt8.random(in: 0...255, using: &generator) })
    var file = DICOMFile(dataset: nativeImage(rows: rows, columns: columns, samples: 3, bits: bits, photometric: "RGB", frames: frames, pixels: native),
                         transferSyntax: .explicitVRLittleEndian)
    let rle = try Transcoder.transcode(file, to: .rle)
    #expect(rle.transferSyntax == .rleLossless)
    #expect(rle.dataset[.pixelData]?.fragments?.fragments.count == frames)
    file = try DICOMFile(data: DICOMWriter.encode(rle))
    let back = try PixelDecoder.decode(file)
    #expect(back.data == native)
    #expect(back.wasLossy == false)
}

@Test func rleDecodesPlanarConfigurationOneToColourByPixel() throws {
    // R plane, G plane, B plane of a 1×2 image.
    let planar = Data([10, 11, 20, 21, 30, 31])
    let ds = nativeImage(rows: 1, columns: 2, samples: 3, bits: 8, photometric: "RGB", planar: 1, pixels: planar)
    let rle = try Transcoder.transcode(DICOMFile(dataset: ds, transferSyntax: .explicitVRLittleEndian), to: .rle)
    let decoded = try PixelDecoder.decode(rle)
    #expect(decoded.data == Data([10, 20, 30, 11, 21, 31]))
    #expect(decoded.pixel.planarConfiguration == 0)
    #expect(try Transcoder.transcode(rle, to: .explicitLE).dataset.integer(.planarConfiguration) == 0)
}

// MARK: - Frames

@Test func framesByOffsetTableByEOIAndOnePerFragment() throws {
    let a = Data([0xFF, 0xD8, 1, 2]), b = Data([3, 4, 0xFF, 0xD9]), c = Data([0xFF, 0xD8, 0xFF, 0xD9])
    let ds = Dataset()
    // Basic Offset Table: frame 1 = a+b, frame 2 = c.
    let table = EncapsulatedPixelData(offsetTable: DICOMBinary.encode(integers: [0, 24], vr: .UL), fragments: [a, b, c])
    #expect(try EncapsulatedFrames.frames(of: table, count: 2, in: ds) == [a + b, c])
    // No table: split where a fragment ends with EOI.
    let noTable = EncapsulatedPixelData(fragments: [a, b, c])
    #expect(try EncapsulatedFrames.frames(of: noTable, count: 2, in: ds) == [a + b, c])
    // Extended Offset Table wins.
    var extended = Dataset()
    extended.set(DataElement(tag: .extendedOffsetTable, vr: .OV, bytes: DICOMBinary.encode(integers: [0, 12], vr: .UV)))
    #expect(try EncapsulatedFrames.frames(of: noTable, count: 2, in: extended) == [a, b + c])
    // One fragment per frame.
    #expect(try EncapsulatedFrames.frames(of: noTable, count: 3, in: ds) == [a, b, c])
    // A table that does not point at fragments is an error, not garbage.
    let wrong = EncapsulatedPixelData(offsetTable: DICOMBinary.encode(integers: [0, 10], vr: .UL), fragments: [a, b, c])
    #expect(throws: DICOMError.self) { try EncapsulatedFrames.frames(of: wrong, count: 2, in: ds) }
}

// MARK: - JPEG lossless (Swift decoder)

@Test(arguments: [1, 2, 3, 4, 5, 6, 7]) func jpegLosslessEveryPredictor16Bit(predictor: Int) throws {
    let width = 23, height = 17
    // Extremes included: differences of ±32768 (category 16) happen between 0 and 65535.
    let samples = (0..<(width * height)).map { i in i % 11 == 0 ? 65535 : i % 13 == 0 ? 0 : (i * 2654435761) & 0xFFFF }
    let stream = losslessJPEG(samples, width: width, height: height, precision: 16, predictor: predictor)
    let decoded = try JPEGDecoder.decode(stream)
    #expect(decoded.header.process == 0xC3)
    #expect(decoded.planes[0].map(Int.init) == samples)
}

@Test func jpegLosslessSignedTwelveBitThroughTheDataSet() throws {
    let width = 9, height = 4
    let values = (0..<(width * height)).map { ($0 * 97) % 4096 - 2048 }     // signed 12-bit
    let stream = losslessJPEG(values.map { $0 & 0xFFF }, width: width, height: height, precision: 12, predictor: 1)
    let ds = nativeImage(rows: height, columns: width, bits: 16, stored: 12, signed: true, pixels: Data())
    let file = encapsulated(ds, syntax: .jpegLosslessSV1, fragments: [stream.count % 2 == 0 ? stream : stream + Data([0])])
    let decoded = try PixelDecoder.decode(file)
    let out = decoded.data.withUnsafeBytes { raw in (0..<(width * height)).map { Int(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * $0, as: Int16.self))) } }
    #expect(out == values)   // sign-extended from Bits Stored
    #expect(decoded.wasLossy == false)
}

// MARK: - JPEG baseline (libjpeg-turbo) and the lossy history

@Test func jpegBaselineDecodesAndTranscodeKeepsTheLossyHistory() throws {
    let width = 64, height = 48
    let grey = (0..<(width * height)).map { UInt8(($0 % width) * 4) }
    let jpeg = try LibJPEG.encode(grey, width: width, height: height, components: 1, quality: 95)
    let ds = nativeImage(rows: height, columns: width, bits: 8, pixels: Data())
    let file = encapsulated(ds, syntax: .jpegBaseline, fragments: [jpeg.count % 2 == 0 ? jpeg : jpeg + Data([0])])
    let decoded = try PixelDecoder.decode(file)
    #expect(decoded.wasLossy)
    #expect(zip(decoded.data, grey).allSatisfy { abs(Int($0) - Int($1)) <= 6 })

    let out = try Transcoder.transcode(file, to: .explicitLE)
    #expect(out.transferSyntax == .explicitVRLittleEndian)
    #expect(out.dataset.firstString(.lossyImageCompression) == "01")
    #expect(out.dataset.firstString(.lossyImageCompressionMethod) == "ISO_10918_1")
    #expect((out.dataset.doubles(.lossyImageCompressionRatio).first ?? 0) > 1)
    #expect(out.dataset.firstString(.sopInstanceUID) == "1.2.3.4.5")     // decompression is no new instance
    #expect(out.meta.firstString(.transferSyntaxUID) == TransferSyntax.explicitVRLittleEndian.uid)
    // Written and read back, the pixels are native.
    let reread = try DICOMFile(data: DICOMWriter.encode(out))
    #expect(reread.dataset[.pixelData]?.bytes == decoded.data)
}

/// A source marked lossy with the ratio of its compression but no method
/// (GDCM's JPEG-LS near-lossless and lossy J2K) gets the method only: the
/// ratios and methods correspond value by value (PS3.3 C.7.6.1.1.5).
@Test func transcodeCompletesALossyHistoryWithoutASecondRatio() throws {
    let width = 16, height = 16
    let grey = (0..<(width * height)).map { UInt8(($0 % width) * 8) }
    let jpeg = try LibJPEG.encode(grey, width: width, height: height, components: 1, quality: 90)
    var ds = nativeImage(rows: height, columns: width, bits: 8, pixels: Data())
    try ds.setString("01", vr: .CS, for: .lossyImageCompression)
    try ds.setString("3.46", vr: .DS, for: .lossyImageCompressionRatio)
    let file = encapsulated(ds, syntax: .jpegBaseline, fragments: [jpeg.count % 2 == 0 ? jpeg : jpeg + Data([0])])
    let out = try Transcoder.transcode(file, to: .explicitLE)
    #expect(out.dataset.strings(.lossyImageCompressionRatio) == ["3.46"])
    #expect(out.dataset.strings(.lossyImageCompressionMethod) == ["ISO_10918_1"])

    // Lists that do not pair up are left as they are, not made worse.
    var odd = ds
    try odd.setString("3.46\\2.5", vr: .DS, for: .lossyImageCompressionRatio)
    let kept = try Transcoder.transcode(encapsulated(odd, syntax: .jpegBaseline, fragments: [jpeg.count % 2 == 0 ? jpeg : jpeg + Data([0])]), to: .explicitLE)
    #expect(kept.dataset.strings(.lossyImageCompressionRatio) == ["3.46", "2.5"])
    #expect(kept.dataset.strings(.lossyImageCompressionMethod).isEmpty)
    #expect(kept.dataset.firstString(.lossyImageCompression) == "01")
}

/// Bits Allocated 1: frames follow each other bit by bit (PS3.5 §8.1.1),
/// so 3 frames of 5×5 take 10 bytes, not 3 × 4.
@Test func oneBitFramesArePackedContinuously() throws {
    let packed = Data([0b1010_1010, 0x55, 0xF0, 0x0F, 0x33, 0xCC, 0x81, 0x7E, 0x3C, 0x02])
    let ds = nativeImage(rows: 5, columns: 5, bits: 1, frames: 3, pixels: packed)
    let file = DICOMFile(dataset: ds, transferSyntax: .implicitVRLittleEndian)
    let decoded = try PixelDecoder.decode(file)
    #expect(decoded.data == packed)
    let out = try Transcoder.transcode(file, to: .explicitLE)
    #expect(out.dataset[.pixelData]?.bytes == packed)
}

/// Native YBR_FULL_422 holds two samples a pixel (Y1 Y2 Cb Cr per pair,
/// PS3.3 C.7.6.3.1.2): transcoded as it is, refused for RLE by name, and
/// its thumbnail takes each pair's chrominance for both pixels.
@Test func nativeYBRFull422IsTwoSamplesAPixel() throws {
    // 2 rows of 4 pixels: grey pairs (Cb = Cr = 128) of rising luminance.
    let pixels = Data([10, 20, 128, 128, 30, 40, 128, 128, 50, 60, 128, 128, 70, 80, 128, 128])
    let ds = nativeImage(rows: 2, columns: 4, samples: 3, bits: 8, photometric: "YBR_FULL_422", frames: 2, pixels: pixels + pixels)
    let file = DICOMFile(dataset: ds, transferSyntax: .implicitVRLittleEndian)
    let out = try Transcoder.transcode(file, to: .explicitLE)
    #expect(out.dataset[.pixelData]?.bytes == pixels + pixels)
    #expect(out.dataset.firstString(.photometricInterpretation) == "YBR_FULL_422")
    do {
        _ = try Transcoder.transcode(file, to: .rle)
        Issue.record("YBR_FULL_422 was RLE-encoded")
    } catch {
        #expect(error.message.contains("YBR_FULL_422"))
    }
    let image = try Thumbnail.rgbOrGrey(file: file)
    #expect(image.components == 3 && image.width == 4 && image.height == 2)
    #expect(stride(from: 0, to: 24, by: 3).map { Int(image.samples[$0]) } == [10, 20, 30, 40, 50, 60, 70, 80])
}

/// The ratio of a YBR_FULL_422 JPEG is to the decoded image (three
/// samples a pixel), as DCMTK computes it, not to the subsampled native
/// layout (two samples a pixel).
@Test func lossyRatioOfYBRFull422IsToTheDecodedImage() throws {
    let width = 32, height = 16
    let rgb = (0..<(width * height * 3)).map { UInt8(($0 * 7) % 256) }
    let jpeg = try LibJPEG.encode(rgb, width: width, height: height, components: 3, quality: 90)
    let stream = jpeg.count % 2 == 0 ? jpeg : jpeg + Data([0])
    let ds = nativeImage(rows: height, columns: width, samples: 3, bits: 8, photometric: "YBR_FULL_422", pixels: Data())
    let out = try Transcoder.transcode(encapsulated(ds, syntax: .jpegBaseline, fragments: [stream]), to: .explicitLE)
    #expect(out.dataset.firstString(.photometricInterpretation) == "RGB")
    #expect(out.dataset.strings(.lossyImageCompressionRatio) == [Transcoder.formatRatio(Double(width * height * 3) / Double(stream.count))])
}

@Test func unsupportedSyntaxIsRefusedByName() throws {
    let mpeg = TransferSyntax(uid: "1.2.840.10008.1.2.4.100")
    let file = encapsulated(nativeImage(rows: 2, columns: 2, bits: 8, pixels: Data()), syntax: mpeg, fragments: [Data([0, 0])])
    do {
        _ = try PixelDecoder.decode(file)
        Issue.record("MPEG2 was decoded")
    } catch {
        #expect(error.kind == .unsupportedTransferSyntax)
        #expect(error.message.contains("1.2.840.10008.1.2.4.100"))
        #expect(error.message.contains("MPEG2"))
    }
}

// MARK: - Thumbnails

@Test func thumbnailWindowsInvertsAndShrinks() throws {
    let width = 400, height = 200
    // Left half 0, right half 1000 (stored); rescale ×2 − 1000 → −1000 / 1000.
    let values = (0..<(width * height)).map { ($0 % width) < width / 2 ? 0 : 1000 }
    var ds = nativeImage(rows: height, columns: width, bits: 16, photometric: "MONOCHROME1", pixels: le16(values))
    try ds.setString("2", vr: .DS, for: .rescaleSlope)
    try ds.setString("-1000", vr: .DS, for: .rescaleIntercept)
    try ds.setString("0", vr: .DS, for: .windowCenter)
    try ds.setString("400", vr: .DS, for: .windowWidth)
    let file = DICOMFile(dataset: ds, transferSyntax: .explicitVRLittleEndian)

    let full = try Thumbnail.rgbOrGrey(file: file)
    #expect(full.components == 1)
    #expect(full.samples[0] == 255)          // −1000 is below the window → 0, inverted (MONOCHROME1) → 255
    #expect(full.samples[width - 1] == 0)

    let jpeg = try Thumbnail.render(file: file, maxSize: 100)
    #expect(jpeg.prefix(2) == Data([0xFF, 0xD8]))
    let image = try LibJPEG.decode(jpeg, colour: .asMarked)
    #expect(image.width == 100 && image.height == 50 && image.components == 1)
}

@Test func voiLinearFunctionFollowsPS3_3() {
    let ds: Dataset = {
        var ds = Dataset()
        try! ds.setString("100", vr: .DS, for: .windowCenter)
        try! ds.setString("51", vr: .DS, for: .windowWidth)
        return ds
    }()
    let out = Thumbnail.voi([0, 74.5, 75, 99.5, 125, 126, 1000], dataset: ds)
    #expect(out[0] == 0 && out[1] == 0)
    #expect(out[3] == 128)
    #expect(out[5] == 255 && out[6] == 255)
}
