import CPNG
import CZlib
import Codecs
@testable import Convert
import DICOM
import Foundation
import Reconcile
import Jobs
import Store
import Testing

// MARK: - Fixtures, made at test time

/// A temporary folder, removed when the test ends.
final class Scratch {
    let path: String
    init() {
        path = NSTemporaryDirectory() + "discport-convert-tests/" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }

    @discardableResult
    func write(_ name: String, _ data: Data) -> String {
        let file = path + "/" + name
        _ = FileManager.default.createFile(atPath: file, contents: data)
        return file
    }
}

enum Fixture {
    /// RGB test picture: gradients, and a red block marking the top-left corner.
    static func rgb(width: Int, height: Int) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                let corner = x < width / 4 && y < height / 4
                pixels[i] = corner ? 250 : UInt8(x * 255 / max(1, width - 1))
                pixels[i + 1] = corner ? 10 : UInt8(y * 255 / max(1, height - 1))
                pixels[i + 2] = corner ? 10 : 128
            }
        }
        return pixels
    }

    /// A JPEG from libjpeg-turbo (4:2:0, quality 90), optionally progressive.
    static func jpeg(width: Int = 64, height: Int = 48, progressive: Bool = false) -> Data {
        try! LibJPEG.encode(rgb(width: width, height: height), width: width, height: height, components: 3, quality: 90,
                            progressive: progressive)
    }

    /// A BMP file: 24-bit BGR bottom-up, 32-bit BGRX top-down, or (`palette`)
    /// 8-bit with the given palette and indices, bottom-up.
    static func bmp(width: Int, height: Int, rgb: [UInt8] = [], bits: Int = 24,
                    palette: [(UInt8, UInt8, UInt8)] = [], indices: [UInt8] = []) -> Data {
        let stride = (width * bits + 31) / 32 * 4
        let paletteBytes = palette.count * 4
        var b = [UInt8]()
        func u16(_ v: Int) { b += [UInt8(v & 0xFF), UInt8(v >> 8 & 0xFF)] }
        func u32(_ v: Int) { u16(v & 0xFFFF); u16(v >> 16 & 0xFFFF) }
        b += Array("BM".utf8); u32(54 + paletteBytes + stride * height); u32(0); u32(54 + paletteBytes)
        u32(40); u32(width); u32(bits == 32 ? -height : height); u16(1); u16(bits); u32(0); u32(stride * height)
        u32(2835); u32(2835); u32(palette.count); u32(0)
        for (r, g, bl) in palette { b += [bl, g, r, 0] }
        for row in 0..<height {
            let y = bits == 32 ? row : height - 1 - row
            var line = [UInt8]()
            for x in 0..<width {
                let p = y * width + x
                switch bits {
                case 8: line.append(indices[p])
                case 24: line += [rgb[3 * p + 2], rgb[3 * p + 1], rgb[3 * p]]
                default: line += [rgb[3 * p + 2], rgb[3 * p + 1], rgb[3 * p], 0xFF]
                }
            }
            b += line + [UInt8](repeating: 0, count: stride - line.count)
        }
        return Data(b)
    }

    /// An EXIF APP1 segment: Orientation, Make, DateTimeOriginal, and a
    /// GPS IFD with a latitude reference and a text that must never leak.
    static func exifSegment(orientation: Int, date: String = "2021:02:03 04:05:06") -> Data {
        // Big-endian TIFF ("MM") to exercise that byte order.
        var t = [UInt8]()
        func u16(_ v: Int) { t += [UInt8(v >> 8), UInt8(v & 0xFF)] }
        func u32(_ v: Int) { u16(v >> 16); u16(v & 0xFFFF) }
        let dateBytes = Array(date.utf8) + [0]
        let make = Array("GPS-LEAK-CAM".utf8) + [0]
        // Layout: header 8, IFD0 at 8 with 4 entries (2 + 48 + 4 = 54) → 62;
        // Exif IFD at 62 with 1 entry (18) → 80; GPS IFD at 80 with 1 entry (18) → 98;
        // date at 98 (20 bytes) → 118; make at 118.
        t += [0x4D, 0x4D]; u16(42); u32(8)
        u16(4)
        u16(0x010F); u16(2); u32(make.count); u32(118)            // Make
        u16(0x0112); u16(3); u32(1); u16(orientation); u16(0)     // Orientation
        u16(0x8769); u16(4); u32(1); u32(62)                      // Exif IFD
        u16(0x8825); u16(4); u32(1); u32(80)                      // GPS IFD
        u32(0)
        u16(1); u16(0x9003); u16(2); u32(dateBytes.count); u32(98); u32(0)
        u16(1); u16(0x0001); u16(2); u32(2); t += Array("N".utf8) + [0, 0, 0]; u32(0)
        t += dateBytes
        t += make
        let payload = Array("Exif\0\0".utf8) + t
        return Data([0xFF, 0xE1, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)] + payload)
    }

    static func comSegment(_ text: String) -> Data {
        let body = Array(text.utf8)
        return Data([0xFF, 0xFE, UInt8((body.count + 2) >> 8), UInt8((body.count + 2) & 0xFF)] + body)
    }

    /// `jpeg` with segments inserted after SOI.
    static func withSegments(_ jpeg: Data, _ segments: [Data]) -> Data {
        var out = Data(jpeg.prefix(2))
        segments.forEach { out.append($0) }
        out.append(jpeg.dropFirst(2))
        return out
    }

    static func png(width: Int, height: Int, rgba: [UInt8]) -> Data {
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        image.width = UInt32(width)
        image.height = UInt32(height)
        image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
        var size: Int = 0
        _ = png_image_write_to_memory(&image, nil, &size, 0, rgba, 0, nil)
        var out = Data(count: size)
        let ok = out.withUnsafeMutableBytes { png_image_write_to_memory(&image, $0.baseAddress, &size, 0, rgba, 0, nil) }
        precondition(ok != 0)
        return out.prefix(size)
    }

    /// A one-page PDF; Info with a UTF-16BE title when `title` is given.
    static func pdf(title: String? = nil, date: String = "D:20200102030405+09'00'", encrypt: Bool = false) -> Data {
        var objects = [
            "<< /Type /Catalog /Pages 2 0 R >>",
            "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 100] >>",
        ]
        var trailer = "<< /Size \(objects.count + 3) /Root 1 0 R"
        if let title {
            let hex = title.utf16.map { String(format: "%04X", $0) }.joined()
            objects.append("<< /Title <FEFF\(hex)> /CreationDate (\(date)) >>")
            trailer += " /Info \(objects.count) 0 R"
        }
        if encrypt {
            objects.append("<< /Filter /Standard /V 1 /R 2 /O <00> /U <00> /P -4 >>")
            trailer += " /Encrypt \(objects.count) 0 R"
        }
        var text = "%PDF-1.4\n"
        var offsets: [Int] = []
        for (n, body) in objects.enumerated() {
            offsets.append(text.utf8.count)
            text += "\(n + 1) 0 obj\n\(body)\nendobj\n"
        }
        let xref = text.utf8.count
        text += "xref\n0 \(objects.count + 1)\n0000000000 65535 f \n"
        for o in offsets { text += String(format: "%010d 00000 n \n", o) }
        text += "trailer\n\(trailer) >>\nstartxref\n\(xref)\n%%EOF\n"
        return Data(text.utf8)
    }

    /// zlib (FlateDecode) compression.
    static func deflate(_ bytes: [UInt8]) -> [UInt8] {
        var size = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(size))
        precondition(compress2(&out, &size, bytes, uLong(bytes.count), 9) == Z_OK)
        return Array(out.prefix(Int(size)))
    }

    /// A PDF 1.5 with cross-reference streams (PNG Up predictor) and the
    /// Info dictionary in a compressed object stream, as `qpdf
    /// --object-streams=generate` and most current producers write.
    /// `update`: an incremental update appends a second object stream with
    /// a newer Info (title `update`) and an XRef stream whose /Prev is the
    /// first. `prevLoop`: the newest /Prev points at itself. `encrypt`: an
    /// /Encrypt entry in the XRef stream dictionary. `bomb`: the object
    /// stream inflates to 80 MiB.
    static func objectStreamPDF(title: String, date: String = "D:20210708091011Z", update: String? = nil,
                                prevLoop: Bool = false, encrypt: Bool = false, bomb: Bool = false) -> Data {
        var out = Array("%PDF-1.5\n%\u{E2}\u{E3}\u{CF}\u{D3}\n".utf8)
        var offsets: [Int: Int] = [:]
        func emit(_ number: Int, _ body: [UInt8]) {
            offsets[number] = out.count
            out += Array("\(number) 0 obj\n".utf8) + body + Array("\nendobj\n".utf8)
        }
        func stream(_ dictionary: String, _ data: [UInt8]) -> [UInt8] {
            Array("<< \(dictionary) /Length \(data.count) >>\nstream\n".utf8) + data + Array("\nendstream".utf8)
        }
        func utf16(_ text: String) -> String {
            "<FEFF" + text.utf16.map { String(format: "%04X", $0) }.joined() + ">"
        }
        func objectStream(_ number: Int, holding object: Int, _ body: String) {
            let header = "\(object) 0 "
            var content = Array((header + body).utf8)
            if bomb { content += [UInt8](repeating: 0x20, count: 80 << 20) }
            emit(number, stream("/Type /ObjStm /N 1 /First \(header.utf8.count) /Filter /FlateDecode", deflate(content)))
        }
        /// XRef stream `number` with rows for `objects` (type 1 offsets, or type 2 in `compressed`).
        func xref(_ number: Int, objects: [Int], compressed: [Int: (Int, Int)], extra: String) -> Int {
            let start = out.count
            offsets[number] = start
            var rows: [[UInt8]] = []
            var index: [String] = []
            for object in objects {
                index.append("\(object) 1")
                if let (streamNumber, k) = compressed[object] {
                    rows.append([2, 0, 0, UInt8(streamNumber >> 8), UInt8(streamNumber & 0xFF), 0, UInt8(k)])
                } else if object == 0 {
                    rows.append([0, 0, 0, 0, 0, 0xFF, 0xFF])
                } else {
                    let o = offsets[object]!
                    rows.append([1, UInt8(o >> 24 & 0xFF), UInt8(o >> 16 & 0xFF), UInt8(o >> 8 & 0xFF), UInt8(o & 0xFF), 0, 0])
                }
            }
            // PNG "Up" predictor (/Predictor 12): each row the difference from the one above.
            var predicted: [UInt8] = []
            var previous = [UInt8](repeating: 0, count: 7)
            for row in rows {
                predicted.append(2)
                predicted += zip(row, previous).map { $0 &- $1 }
                previous = row
            }
            out += Array("\(number) 0 obj\n".utf8)
                + stream("/Type /XRef /Size \(number + 1) /W [1 4 2] /Index [\(index.joined(separator: " "))] /Root 1 0 R \(extra) "
                         + "/Filter /FlateDecode /DecodeParms << /Columns 7 /Predictor 12 >>", deflate(predicted))
                + Array("\nendobj\n".utf8)
            return start
        }
        emit(1, Array("<< /Type /Catalog /Pages 2 0 R >>".utf8))
        emit(2, Array("<< /Type /Pages /Kids [3 0 R] /Count 1 >>".utf8))
        emit(3, Array("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>".utf8))
        objectStream(5, holding: 4, "<< /Producer (fixture) /Title \(utf16(title)) /CreationDate (\(date)) >>")
        let encryption = encrypt ? "/Encrypt << /Filter /Standard /V 2 /R 3 /O <00> /U <00> /P -4 >>" : ""
        var last = xref(6, objects: [0, 1, 2, 3, 4, 5, 6], compressed: [4: (5, 0)], extra: "/Info 4 0 R \(encryption)")
        if let update {
            objectStream(7, holding: 8, "<< /Title \(utf16(update)) /CreationDate (D:20220102) >>")
            let start = out.count
            last = xref(9, objects: [7, 8, 9], compressed: [8: (7, 0)], extra: "/Info 8 0 R /Prev \(prevLoop ? start : last)")
        } else if prevLoop {
            let start = out.count
            last = xref(7, objects: [4, 5, 7], compressed: [4: (5, 0)], extra: "/Info 4 0 R /Prev \(start)")
        }
        out += Array("startxref\n\(last)\n%%EOF\n".utf8)
        return Data(out)
    }

    static let patient = LocalIdentity(patientID: "T-1", patientName: "Yamada^Tarou=山田^太郎=やまだ^たろう",
                                         birthDate: "19700101", sex: "F")

    static func session(_ configure: (inout ConvertOptions) -> Void = { _ in }) throws -> ConversionSession {
        var options = ConvertOptions(patient: patient)
        configure(&options)
        return try ConversionSession(options: options)
    }
}

/// Bytes from the first SOS marker to the end of EOI.
func scanData(_ jpeg: Data) -> Data {
    let b = [UInt8](jpeg)
    var i = 2
    while i < b.count {
        while b[i] == 0xFF { i += 1 }
        let marker = b[i]
        i += 1
        if marker == 0xDA {
            var end = b.count
            while end >= 2 && !(b[end - 2] == 0xFF && b[end - 1] == 0xD9) { end -= 1 }
            return Data(b[(i - 2)..<end])
        }
        i += Int(b[i]) << 8 | Int(b[i + 1])
    }
    return Data()
}

func contains(_ data: Data, _ text: String) -> Bool {
    data.range(of: Data(text.utf8)) != nil
}

// MARK: - JPEG

@Suite struct JPEGTests {
    @Test func unsubsampledYCbCrIsYBR_FULL_422() throws {
        // The same stream with its chroma not subsampled (4:4:4): Table
        // 8.2.1-1 of PS3.5 has no YBR_FULL for the JPEG syntaxes, and the VL
        // Image Module none for lossy compression (dciodvfy: an error).
        var bytes = [UInt8](Fixture.jpeg())
        let sof = try #require((0..<bytes.count - 1).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        #expect(bytes[sof + 11] == 0x22)   // component 1: 2×2
        bytes[sof + 11] = 0x11
        let stream = try JPEGStream(Data(bytes))
        #expect(stream.components.map(\.h) == [1, 1, 1])
        #expect(stream.photometricInterpretation == "YBR_FULL_422")
    }

    @Test func markersAndMetadataOfABaselineJPEG() throws {
        let source = Fixture.withSegments(Fixture.jpeg(), [Fixture.exifSegment(orientation: 1), Fixture.comSegment("Taro's phone")])
        let stream = try JPEGStream(source)
        #expect(stream.isBaseline && stream.precision == 8)
        #expect(stream.columns == 64 && stream.rows == 48 && stream.samplesPerPixel == 3)
        #expect(stream.photometricInterpretation == "YBR_FULL_422")
        #expect(stream.orientation == 1)
        #expect(stream.exifDateTime == "20210203040506")
        #expect(stream.droppedSegments.contains("APP1 EXIF") && stream.droppedSegments.contains("COM"))
        let encapsulated = stream.encapsulatedStream(of: source)
        #expect(scanData(encapsulated) == scanData(source))
        #expect(!contains(encapsulated, "GPS-LEAK") && !contains(encapsulated, "Exif") && !contains(encapsulated, "Taro"))
        // Made in place, the same bytes.
        var reused = source
        #expect(stream.encapsulate(&reused) == encapsulated)
        #expect(encapsulated.count % 2 == 0)
    }

    @Test func extendedSequentialJPEGIsEncapsulatedAsJPEGExtended() throws {
        // The same entropy-coded data under SOF1 (extended sequential, 8-bit) is a valid JPEG.
        var bytes = [UInt8](Fixture.jpeg())
        let sof = try #require((0..<(bytes.count - 1)).first { bytes[$0] == 0xFF && bytes[$0 + 1] == 0xC0 })
        bytes[sof + 1] = 0xC1
        let scratch = Scratch()
        let path = scratch.write("extended.jpg", Data(bytes))
        let converted = try #require(try Fixture.session().convert(path).first)
        #expect(converted.file.transferSyntax == .jpegExtended)
        #expect(converted.file.dataset.integer(.bitsStored) == 8)
    }

    @Test func iccProfileIsCarriedAndOtherMetadataDropped() throws {
        let profile = Data((0..<300).map { UInt8($0 % 251) })
        func chunk(_ n: UInt8, _ part: Data) -> Data {
            let payload = Data("ICC_PROFILE\0".utf8) + Data([n, 2]) + part
            return Data([0xFF, 0xE2, UInt8((payload.count + 2) >> 8), UInt8((payload.count + 2) & 0xFF)]) + payload
        }
        // Chunks out of order: joined by their sequence numbers.
        let source = Fixture.withSegments(Fixture.jpeg(), [chunk(2, profile.suffix(100)), chunk(1, profile.prefix(200))])
        let stream = try JPEGStream(source)
        #expect(stream.iccProfile == profile)
        #expect(stream.droppedSegments == ["APP2", "APP2"])
        let scratch = Scratch()
        let converted = try #require(try Fixture.session().convert(scratch.write("icc.jpg", source)).first)
        #expect(converted.file.dataset[.iccProfile]?.bytes == profile)
    }

    @Test func truncatedJPEGIsDamaged() {
        let source = Fixture.jpeg()
        #expect(throws: ConvertError.self) { try JPEGStream(source.prefix(source.count - 200)) }
        #expect(throws: ConvertError.self) { try JPEGStream(Data([0xFF, 0xD8, 0xFF])) }
    }

    @Test func baselineJPEGIsEncapsulatedVerbatim() throws {
        let scratch = Scratch()
        let source = Fixture.withSegments(Fixture.jpeg(width: 63, height: 47), [Fixture.exifSegment(orientation: 1)])
        let path = scratch.write("photo.jpg", source)
        let session = try Fixture.session()
        let converted = try #require(try session.convert(path).first)
        #expect(converted.file.transferSyntax == .jpegBaseline)
        let encoded = try DICOMWriter.encode(converted.file)
        #expect(!contains(encoded, "GPS-LEAK") && !contains(encoded, "Exif"))
        let read = try DICOMFile(data: encoded)
        let ds = read.dataset
        #expect(ds.firstString(.sopClassUID) == "1.2.840.10008.5.1.4.1.1.7")
        #expect(ds.firstString(.photometricInterpretation) == "YBR_FULL_422")
        #expect(ds.integer(.rows) == 47 && ds.integer(.columns) == 63)
        #expect(ds.firstString(.lossyImageCompression) == "01")
        #expect(ds.firstString(.lossyImageCompressionMethod) == "ISO_10918_1")
        #expect(ds.firstString(.contentDate) == "20210203" && ds.firstString(.contentTime) == "040506")
        let fragments = try #require(ds[.pixelData]?.fragments)
        #expect(fragments.fragments.count == 1 && fragments.fragments[0].count % 2 == 0)
        #expect(scanData(fragments.fragments[0]) == scanData(source))
    }

    @Test func exifOrientationTurnsThePictureUpright() throws {
        let scratch = Scratch()
        let plain = Fixture.jpeg(width: 64, height: 48)
        let path = scratch.write("turned.jpg", Fixture.withSegments(plain, [Fixture.exifSegment(orientation: 6)]))
        let converted = try #require(try Fixture.session().convert(path).first)
        #expect(converted.file.transferSyntax == .explicitVRLittleEndian)
        let ds = converted.file.dataset
        #expect(ds.integer(.rows) == 64 && ds.integer(.columns) == 48)
        #expect(ds.firstString(.lossyImageCompression) == "01")
        #expect(ds.string(.derivationDescription)?.contains("orientation 6") == true)
        // Rotated 90° clockwise: the red top-left block is now top-right.
        let pixels = try #require(ds[.pixelData]?.bytes)
        func red(_ x: Int, _ y: Int) -> Bool {
            let i = (y * 48 + x) * 3
            return pixels[pixels.startIndex + i] > 200 && pixels[pixels.startIndex + i + 1] < 60
        }
        #expect(red(44, 3) && !red(3, 3))
        // Identical to the plain decode turned by hand.
        let decoded = try ImageDecoder.jpeg(plain).oriented(6)
        #expect(decoded.frames[0] == pixels)
    }

    @Test func progressiveJPEGIsDecoded() throws {
        let scratch = Scratch()
        let path = scratch.write("progressive.jpg", Fixture.jpeg(progressive: true))
        let converted = try #require(try Fixture.session().convert(path).first)
        #expect(converted.file.transferSyntax == .explicitVRLittleEndian)
        #expect(!converted.file.transferSyntax.isRetired)
        let ds = converted.file.dataset
        #expect(ds.firstString(.photometricInterpretation) == "RGB")
        #expect(ds[.pixelData]?.bytes?.count == 64 * 48 * 3)
        #expect(ds.firstString(.lossyImageCompression) == "01")
        // Close to the original picture (lossy, quality 90).
        let original = Fixture.rgb(width: 64, height: 48)
        let pixels = [UInt8](ds[.pixelData]!.bytes!)
        let error = zip(original, pixels).map { abs(Int($0) - Int($1)) }.reduce(0, +) / pixels.count
        #expect(error < 6)
    }

    @Test func verbatimJPEGDecompressesForUncompressedOnlyMedia() throws {
        // The export side's decompression is Codecs' Transcoder, the same
        // libjpeg-turbo decode convert uses for loose JPEGs.
        let scratch = Scratch()
        let source = Fixture.jpeg(width: 40, height: 30)
        let path = scratch.write("a.jpg", source)
        let converted = try #require(try Fixture.session().convert(path).first)
        let read = try DICOMFile(data: DICOMWriter.encode(converted.file))
        let plain = try Transcoder.transcode(read, to: .explicitLE)
        #expect(plain.transferSyntax == .explicitVRLittleEndian)
        let ds = try DICOMFile(data: DICOMWriter.encode(plain)).dataset
        #expect(ds.firstString(.photometricInterpretation) == "RGB")
        #expect(ds.firstString(.lossyImageCompression) == "01")
        #expect(ds[.pixelData]?.bytes == (try ImageDecoder.jpeg(source)).frames[0])
    }

    @Test func corruptJPEGIsRefusedNotFilledWithGrey() throws {
        // Scan data cut short, EOI put back: libjpeg warns and fills grey;
        // a loose file is refused, DICOM pixel data (Codecs) stays tolerant.
        let whole = Fixture.jpeg(width: 256, height: 128)
        let cut = whole.prefix(whole.count * 2 / 3) + Data([0xFF, 0xD9])
        #expect(throws: ConvertError.self) { try ImageDecoder.jpeg(cut) }
        let tolerant = try LibJPEG.decode(cut)
        #expect(tolerant.width == 256 && tolerant.height == 128)
        #expect(try ImageDecoder.jpeg(whole).frames[0] == LibJPEG.decode(whole).samples)
    }

    @Test func orientationsMapCornersLikeEXIFSays() {
        // 3×2 grayscale, values = index: 0 1 2 / 3 4 5.
        let image = DecodedImage(columns: 3, rows: 2, samplesPerPixel: 1, bitsAllocated: 8, frames: [Data([0, 1, 2, 3, 4, 5])])
        #expect(image.oriented(1) == image)
        #expect(image.oriented(2).frames[0] == Data([2, 1, 0, 5, 4, 3]))
        #expect(image.oriented(3).frames[0] == Data([5, 4, 3, 2, 1, 0]))
        #expect(image.oriented(4).frames[0] == Data([3, 4, 5, 0, 1, 2]))
        #expect(image.oriented(5).frames[0] == Data([0, 3, 1, 4, 2, 5]))
        #expect(image.oriented(6).frames[0] == Data([3, 0, 4, 1, 5, 2]))
        #expect(image.oriented(7).frames[0] == Data([5, 2, 4, 1, 3, 0]))
        #expect(image.oriented(8).frames[0] == Data([2, 5, 1, 4, 0, 3]))
        #expect(image.oriented(6).columns == 2 && image.oriented(6).rows == 3)
    }
}

// MARK: - Lossless sources

@Suite struct LosslessSourceTests {
    @Test func pngWithAlphaKeepsTheColourExactly() throws {
        let scratch = Scratch()
        let rgb = Fixture.rgb(width: 20, height: 10)
        var rgba = [UInt8]()
        for p in 0..<(20 * 10) { rgba += rgb[(3 * p)..<(3 * p + 3)] + [UInt8(p % 256)] }
        let path = scratch.write("photo.png", Fixture.png(width: 20, height: 10, rgba: rgba))
        let converted = try #require(try Fixture.session().convert(path).first)
        let ds = converted.file.dataset
        #expect(converted.file.transferSyntax == .explicitVRLittleEndian)
        #expect(ds[.pixelData]?.bytes == Data(rgb))
        #expect(ds.firstString(.lossyImageCompression) == "00")
        #expect(ds.integer(.samplesPerPixel) == 3 && ds.integer(.planarConfiguration) == 0)
    }

    @Test func bmpIsDecodedExactly() throws {
        let scratch = Scratch()
        let rgb = Fixture.rgb(width: 17, height: 9)
        let path = scratch.write("scan.bmp", Fixture.bmp(width: 17, height: 9, rgb: rgb))
        let converted = try #require(try Fixture.session().convert(path).first)
        #expect(converted.file.dataset[.pixelData]?.bytes == Data(rgb))
        // 32-bit, top-down.
        let top = scratch.write("top.bmp", Fixture.bmp(width: 17, height: 9, rgb: rgb, bits: 32))
        #expect(try ImageDecoder.bmp(Data(contentsOf: URL(fileURLWithPath: top))).frames[0] == Data(rgb))
    }

    @Test func greyPaletteBMPStaysGrey() throws {
        let grey = (0..<256).map { (UInt8($0), UInt8($0), UInt8($0)) }
        let indices = (0..<(5 * 3)).map { UInt8($0 * 17) }
        let image = try ImageDecoder.bmp(Fixture.bmp(width: 5, height: 3, bits: 8, palette: grey, indices: indices))
        #expect(image.samplesPerPixel == 1 && image.frames[0] == Data(indices))
        let colour = try ImageDecoder.bmp(Fixture.bmp(width: 5, height: 3, bits: 8, palette: [(255, 0, 0), (0, 0, 255)],
                                                      indices: (0..<15).map { UInt8($0 % 2) }))
        #expect(colour.samplesPerPixel == 3 && colour.frames[0].prefix(6) == Data([255, 0, 0, 0, 0, 255]))
        #expect(throws: ConvertError.self) { try ImageDecoder.bmp(Data("BM".utf8) + Data(count: 30)) }
    }

    @Test func unknownFilesAreRefused() throws {
        let scratch = Scratch()
        let path = scratch.write("notes.txt", Data("hello".utf8))
        #expect(throws: ConvertError.self) { try Fixture.session().convert(path) }
    }
}

// MARK: - PDF

@Suite struct PDFTests {
    @Test func infoDictionaryIsRead() throws {
        let info = try PDFDocumentInfo(Fixture.pdf(title: "紹介状 (Referral)"))
        #expect(info.version == "1.4")
        #expect(info.title == "紹介状 (Referral)")
        #expect(info.creationDateTime == "20200102030405")
    }

    @Test func infoInACompressedObjectStreamIsRead() throws {
        let pdf = Fixture.objectStreamPDF(title: "退院サマリー (summary)")
        #expect(!contains(pdf, "CreationDate"))   // only inside the compressed stream
        let info = try PDFDocumentInfo(pdf)
        #expect(info.version == "1.5")
        #expect(info.title == "退院サマリー (summary)")
        #expect(info.creationDateTime == "20210708091011")

        // An incremental update: the newest Info wins, found through /Prev.
        let updated = try PDFDocumentInfo(Fixture.objectStreamPDF(title: "first", update: "second"))
        #expect(updated.title == "second" && updated.creationDateTime == "20220102000000")

        // The document converts with them.
        let scratch = Scratch()
        let path = scratch.write("stream.pdf", pdf)
        // poppler (an independent reader, installed by make deps) sees the same Info.
        if FileManager.default.isExecutableFile(atPath: "/usr/bin/pdfinfo") {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/usr/bin/pdfinfo")
            process.arguments = [path]
            let pipe = Pipe()
            process.standardOutput = pipe
            process.standardError = FileHandle.nullDevice
            try process.run()
            let report = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            process.waitUntilExit()
            #expect(report.contains("退院サマリー (summary)"), "pdfinfo: \(report)")
        }
        let converted = try #require(try Fixture.session().convert(path).first)
        #expect(converted.file.dataset.string(.documentTitle) == "退院サマリー (summary)")
        #expect(converted.file.dataset.firstString(.contentDate) == "20210708")
    }

    @Test func hostileCrossReferencesEndQuietly() throws {
        // A /Prev that points at itself: read once, no endless loop.
        let looped = try PDFDocumentInfo(Fixture.objectStreamPDF(title: "loop", update: "newer", prevLoop: true))
        #expect(looped.title == "newer")
        let selfLoop = try PDFDocumentInfo(Fixture.objectStreamPDF(title: "self", prevLoop: true))
        #expect(selfLoop.title == "self")
        // An object stream that inflates past the limit: no title, no crash.
        let bomb = try PDFDocumentInfo(Fixture.objectStreamPDF(title: "bomb", bomb: true))
        #expect(bomb.title == nil)
    }

    @Test func encryptionInAnXRefStreamIsRefused() throws {
        #expect {
            try PDFDocumentInfo(Fixture.objectStreamPDF(title: "secret", encrypt: true))
        } throws: { error in
            (error as? ConvertError)?.kind == .encrypted
        }
    }

    @Test func encapsulatedPDFAttributes() throws {
        let scratch = Scratch()
        let pdf = Fixture.pdf(title: "紹介状")
        let path = scratch.write("letter.pdf", pdf)
        let converted = try #require(try Fixture.session { $0.seriesDescription = "Documents" }.convert(path).first)
        let read = try DICOMFile(data: DICOMWriter.encode(converted.file))
        let ds = read.dataset
        #expect(ds.firstString(.sopClassUID) == "1.2.840.10008.5.1.4.1.1.104.1")
        #expect(ds.firstString(.modality) == "DOC")
        #expect(ds.firstString(.conversionType) == "WSD")
        #expect(ds.firstString(.mimeTypeOfEncapsulatedDocument) == "application/pdf")
        #expect(ds.string(.documentTitle) == "紹介状")
        #expect(ds.firstString(.burnedInAnnotation) == "YES")
        #expect(ds.contains(.conceptNameCodeSequence))
        #expect(ds.firstString(.contentDate) == "20200102")
        #expect(ds.firstString(.acquisitionDateTime) == "20200102030405")
        #expect(ds.integer(.encapsulatedDocumentLength) == pdf.count)
        let document = try #require(ds[.encapsulatedDocument]?.bytes)
        #expect(document.count % 2 == 0 && document.prefix(pdf.count) == pdf)
        #expect(ds.firstString(.specificCharacterSet) == "ISO_IR 192")
        #expect(ds.string(.patientName) == "Yamada^Tarou=山田^太郎=やまだ^たろう")
    }

    @Test func titleFallsBackToTheFileName() throws {
        let scratch = Scratch()
        let path = scratch.write("scan 12.pdf", Fixture.pdf())
        let converted = try #require(try Fixture.session().convert(path).first)
        #expect(converted.file.dataset.string(.documentTitle) == "scan 12.pdf")
        let titled = try #require(try Fixture.session { $0.title = "Discharge summary" }.convert(path).first)
        #expect(titled.file.dataset.string(.documentTitle) == "Discharge summary")
    }

    @Test(arguments: ["truncated", "encrypted", "noheader"])
    func badPDFsAreRefusedNamingTheFile(_ kind: String) throws {
        let scratch = Scratch()
        let data: Data
        switch kind {
        case "truncated": data = Fixture.pdf(title: "x").dropLast(30)
        case "encrypted": data = Fixture.pdf(encrypt: true)
        default: data = Data("just text".utf8)
        }
        let path = scratch.write("\(kind).pdf", data)
        do {
            _ = try Fixture.session().convert(path)
            Issue.record("\(kind) PDF was converted")
        } catch let error as ConvertError {
            #expect(error.path == path)
            #expect(error.description.contains("\(kind).pdf"))
            #expect(error.kind == (kind == "encrypted" ? .encrypted : .damaged))
        }
    }
}

// MARK: - Session, identity, job

@Suite struct SessionTests {
    @Test func oneStudyOneSeriesPerKindNumberedInOrder() throws {
        let scratch = Scratch()
        let a = scratch.write("a.jpg", Fixture.jpeg())
        let b = scratch.write("b.jpg", Fixture.jpeg(width: 32, height: 32))
        let c = scratch.write("c.pdf", Fixture.pdf())
        let session = try Fixture.session { $0.dateTime = "20240101" }
        let out = try [a, c, b].flatMap { try session.convert($0) }.map(\.file.dataset)
        #expect(Set(out.map { $0.firstString(.studyInstanceUID) }).count == 1)
        #expect(out[0].firstString(.seriesInstanceUID) == out[2].firstString(.seriesInstanceUID))
        #expect(out[0].firstString(.seriesInstanceUID) != out[1].firstString(.seriesInstanceUID))
        #expect(out.map { $0.integer(.instanceNumber) } == [1, 1, 2])
        #expect(out.map { $0.integer(.seriesNumber) } == [1, 2, 1])
        #expect(out.allSatisfy { $0.firstString(.studyDate) == "20240101" && $0.firstString(.contentDate) == "20240101" })
    }

    @Test func asciiTextNeedsNoCharacterSet() throws {
        let scratch = Scratch()
        let path = scratch.write("a.jpg", Fixture.jpeg())
        let session = try ConversionSession(options: ConvertOptions(patient: LocalIdentity(patientID: "X", patientName: "Doe^Jane")))
        let ds = try #require(try session.convert(path).first).file.dataset
        #expect(ds[.specificCharacterSet] == nil)
    }

    @Test func invalidIdentityIsRefused() {
        #expect(throws: ConvertError.self) {
            try ConversionSession(options: ConvertOptions(patient: LocalIdentity(patientID: "X", birthDate: "1970-01-01")))
        }
        #expect(throws: ConvertError.self) {
            try ConversionSession(options: ConvertOptions(patient: LocalIdentity(patientID: "X", sex: "male")))
        }
        #expect(throws: ConvertError.self) {
            try ConversionSession(options: ConvertOptions(patient: LocalIdentity(patientID: "")))
        }
    }

    /// A backslash would split a description into two values (dciodvfy:
    /// bad VM); a line break is no LO or SH text.
    @Test func studyAndSeriesTextMustBeOneValue() throws {
        let patient = LocalIdentity(patientID: "X")
        for study in [StudyContext(studyDescription: "Chest\\PA"), StudyContext(studyDescription: "two\nlines"),
                      StudyContext(accessionNumber: "A\\1"), StudyContext(studyID: String(repeating: "9", count: 17))] {
            #expect(throws: ConvertError.self) { try ConversionSession(options: ConvertOptions(patient: patient, study: study)) }
        }
        var options = ConvertOptions(patient: patient, study: StudyContext(studyDescription: "胸部 CT"))
        options.seriesDescription = "x\\y"
        #expect(throws: ConvertError.self) { try ConversionSession(options: options) }
        options.seriesDescription = "写真"
        _ = try ConversionSession(options: options)
    }

    @Test func photoIsVLPhotographic() throws {
        let scratch = Scratch()
        let path = scratch.write("wound.jpg", Fixture.jpeg())
        let ds = try #require(try Fixture.session { $0.imageIOD = .photo }.convert(path).first).file.dataset
        #expect(ds.firstString(.sopClassUID) == "1.2.840.10008.5.1.4.1.1.77.1.4")
        #expect(ds.firstString(.modality) == "XC")
        #expect(ds.contains(.acquisitionContextSequence))
        #expect(ds[.conversionType] == nil)
    }

    @Test func imagesThatCannotBeVLPhotographicAreSecondaryCaptureInASeriesOfTheirOwn() throws {
        // A lossy JPEG in RGB (Adobe APP14, transform 0, no JFIF): the VL
        // Image Module allows RGB only uncompressed or lossless.
        let scratch = Scratch()
        var jpeg = [UInt8](Fixture.jpeg())
        #expect(jpeg[2] == 0xFF && jpeg[3] == 0xE0)
        jpeg.removeSubrange(2..<(4 + (Int(jpeg[4]) << 8 | Int(jpeg[5]))))
        let adobe: [UInt8] = [0xFF, 0xEE, 0x00, 0x0E] + Array("Adobe".utf8) + [0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00]
        jpeg.insert(contentsOf: adobe, at: 2)
        let rgb = scratch.write("rgb.jpg", Data(jpeg))
        let photo = scratch.write("wound.jpg", Fixture.jpeg())
        let session = try Fixture.session { $0.imageIOD = .photo }
        let first = try #require(try session.convert(photo).first)
        let second = try #require(try session.convert(rgb).first)
        #expect(first.sopClassUID == "1.2.840.10008.5.1.4.1.1.77.1.4")
        #expect(second.sopClassUID == "1.2.840.10008.5.1.4.1.1.7")
        let ds = second.file.dataset
        #expect(ds.firstString(.photometricInterpretation) == "RGB")
        #expect(ds.firstString(.modality) == "OT")
        #expect(ds.firstString(.seriesInstanceUID) != first.file.dataset.firstString(.seriesInstanceUID), "a series has one modality")
        #expect(second.notes.contains { $0.contains("not VL Photographic Image") && $0.contains("lossy JPEG in RGB") })
        #expect(second.file.transferSyntax == .jpegBaseline, "still the JPEG as it is")
    }

    @Test func transparencyLeftOutIsNoted() throws {
        let scratch = Scratch()
        var rgba = [UInt8](repeating: 0, count: 4 * 6 * 4)
        for p in 0..<24 { rgba[4 * p] = 200; rgba[4 * p + 3] = p < 5 ? 0 : 255 }
        let seeThrough = scratch.write("logo.png", Fixture.png(width: 6, height: 4, rgba: rgba))
        let converted = try #require(try Fixture.session().convert(seeThrough).first)
        #expect(converted.notes.contains { $0.contains("transparency left out: 5 of 24 pixels") })
        // An alpha channel that is opaque everywhere loses nothing: no note.
        for p in 0..<24 { rgba[4 * p + 3] = 255 }
        let opaque = scratch.write("opaque.png", Fixture.png(width: 6, height: 4, rgba: rgba))
        #expect(try #require(try Fixture.session().convert(opaque).first).notes.isEmpty)
    }

    @Test func bytesAfterTheJPEGsEndAreNoted() throws {
        let scratch = Scratch()
        let path = scratch.write("phone.jpg", Fixture.jpeg() + Data("MotionPhoto_Data".utf8))
        let converted = try #require(try Fixture.session().convert(path).first)
        #expect(converted.file.transferSyntax == .jpegBaseline)
        #expect(converted.notes.contains("left out: 16 bytes after the image's end (EOI marker)"))
        #expect(try #require(try Fixture.session().convert(scratch.write("plain.jpg", Fixture.jpeg())).first).notes.isEmpty)
    }

    @Test func pngSamplesAreTheFilesWhateverItsGammaChunksSay() throws {
        // PNGs written by hand: 16-bit grey with an sRGB chunk, 8-bit grey
        // with gAMA 1.0, 16-bit RGB without any: the samples as stored
        // (libpng's simplified API converted each to another gamma).
        func chunk(_ type: String, _ body: [UInt8]) -> [UInt8] {
            let typed = Array(type.utf8) + body
            let crc = UInt32(crc32(0, typed, uInt(typed.count)))
            func be(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
            return be(UInt32(body.count)) + typed + be(crc)
        }
        func png(depth: UInt8, colour: UInt8, extra: [UInt8], samples: [Int], width: Int) -> Data {
            let perPixel = colour == 2 ? 3 : 1
            var raw: [UInt8] = []
            for row in 0..<(samples.count / (width * perPixel)) {
                raw.append(0)
                for v in samples[(row * width * perPixel)..<((row + 1) * width * perPixel)] {
                    raw += depth == 16 ? [UInt8(v >> 8), UInt8(v & 0xFF)] : [UInt8(v)]
                }
            }
            let height = samples.count / (width * perPixel)
            let ihdr: [UInt8] = [0, 0, 0, UInt8(width), 0, 0, 0, UInt8(height), depth, colour, 0, 0, 0]
            return Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", ihdr) + extra
                        + chunk("IDAT", Fixture.deflate(raw)) + chunk("IEND", []))
        }
        let scratch = Scratch()
        let grey16 = (0..<16).map { $0 * 1000 }
        let cases: [(String, Data, [Int], Int)] = [
            ("g16.png", png(depth: 16, colour: 0, extra: chunk("sRGB", [0]), samples: grey16, width: 8), grey16, 16),
            ("g8.png", png(depth: 8, colour: 0, extra: chunk("gAMA", [0, 1, 0x86, 0xA0]), samples: (0..<16).map { $0 * 3 }, width: 8),
             (0..<16).map { $0 * 3 }, 8),
            ("rgb16.png", png(depth: 16, colour: 2, extra: [], samples: (0..<24).map { $0 * 700 }, width: 4), (0..<24).map { $0 * 700 }, 16),
        ]
        for (name, data, expected, bits) in cases {
            let ds = try #require(try Fixture.session().convert(scratch.write(name, data)).first).file.dataset
            #expect(ds.integers(.bitsAllocated) == [bits], "\(name)")
            let pixels = try #require(ds[.pixelData]?.bytes)
            let values = bits == 16 ? stride(from: 0, to: pixels.count, by: 2).map { Int(pixels[pixels.startIndex + $0]) | Int(pixels[pixels.startIndex + $0 + 1]) << 8 }
                                    : pixels.map(Int.init)
            #expect(values == expected, "\(name)")
        }
    }

    @Test func sixteenBitRGBTIFFKeepsItsSixteenBits() throws {
        // A little-endian, uncompressed, one-strip 4×2 RGB TIFF, 16 bits per
        // sample: read as stored (libtiff's RGBA interface gave 8 bits, cut
        // without a word).
        var t: [UInt8] = []
        func u16(_ v: Int) { t += [UInt8(v & 0xFF), UInt8(v >> 8)] }
        func u32(_ v: Int) { u16(v & 0xFFFF); u16(v >> 16) }
        let samples = (0..<24).map { $0 * 700 }
        t += [0x49, 0x49]; u16(42); u32(8)
        u16(10)
        for (tag, type, count, value) in [(256, 3, 1, 4), (257, 3, 1, 2), (258, 3, 3, 134), (259, 3, 1, 1), (262, 3, 1, 2),
                                          (273, 4, 1, 140), (277, 3, 1, 3), (278, 3, 1, 2), (279, 4, 1, 48), (284, 3, 1, 1)] {
            u16(tag); u16(type); u32(count)
            if type == 3 && count == 1 { u16(value); u16(0) } else { u32(value) }
        }
        u32(188)   // a second page, the same pixels
        u16(16); u16(16); u16(16)
        for v in samples { u16(v) }
        u16(10)
        for (tag, type, count, value) in [(256, 3, 1, 4), (257, 3, 1, 2), (258, 3, 3, 134), (259, 3, 1, 1), (262, 3, 1, 2),
                                          (273, 4, 1, 140), (277, 3, 1, 3), (278, 3, 1, 2), (279, 4, 1, 48), (284, 3, 1, 1)] {
            u16(tag); u16(type); u32(count)
            if type == 3 && count == 1 { u16(value); u16(0) } else { u32(value) }
        }
        u32(0)
        let scratch = Scratch()
        let pages = try Fixture.session().convert(scratch.write("rgb16.tif", Data(t)))
        // Two single-frame objects: the multi-frame true colour SC holds 8-bit samples only.
        #expect(pages.count == 2 && pages.allSatisfy { $0.sopClassUID == "1.2.840.10008.5.1.4.1.1.7" && $0.frames == 1 })
        let converted = try #require(pages.first)
        let ds = converted.file.dataset
        #expect(ds.integers(.bitsAllocated) == [16] && ds.integers(.samplesPerPixel) == [3])
        let pixels = try #require(ds[.pixelData]?.bytes)
        #expect(stride(from: 0, to: pixels.count, by: 2).map { Int(pixels[pixels.startIndex + $0]) | Int(pixels[pixels.startIndex + $0 + 1]) << 8 } == samples)
        #expect(converted.notes.isEmpty)
    }

    @Test func aPDFTitleLongerThanSTIsCutAndNoted() throws {
        let scratch = Scratch()
        let long = String(repeating: "長", count: 1500)
        let converted = try #require(try Fixture.session().convert(scratch.write("long.pdf", Fixture.pdf(title: long))).first)
        let title = try #require(converted.file.dataset.string(.documentTitle))
        #expect(title.utf8.count <= 1024 && long.hasPrefix(title) && title.count == 341)
        #expect(converted.notes.contains { $0.contains("Document Title cut") })
        #expect(converted.file.dataset[.encapsulatedDocument]?.bytes?.range(of: Data("FEFF".utf8)) != nil, "the PDF as it is")
    }

    @Test func importIntoTheStoreThenAttachToTheStudy() throws {
        let scratch = Scratch()
        let store = try InstanceStore(home: scratch.path + "/home")
        let jpeg = scratch.write("a.jpg", Fixture.jpeg())
        let pdf = scratch.write("b.pdf", Fixture.pdf(title: "Letter"))
        let first = ConvertJob(session: try Fixture.session(), destination: .store(store))
        let summary = try first.run([jpeg, pdf])
        #expect(summary.converted == 2 && summary.failed == 0 && summary.instances == 2)
        #expect(try store.instances().count == 2)

        let (patient, study) = try ConvertJob.studyContext(summary.studyInstanceUID, store: store)
        #expect(patient.patientID == "T-1" && patient.patientName?.hasPrefix("Yamada^Tarou=山田") == true)
        #expect(patient.birthDate == "19700101" && patient.sex == "F")
        #expect(study.firstSeriesNumber == 3)
        let second = ConvertJob(session: try ConversionSession(options: ConvertOptions(patient: patient, study: study)),
                                destination: .store(store))
        var events: [ConvertEvent] = []
        let again = try second.run([jpeg]) { events.append($0) }
        #expect(again.studyInstanceUID == summary.studyInstanceUID)
        #expect(events.first?.outputs.first?.storeOutcome == "stored")
        let series = try store.series(studyInstanceUID: summary.studyInstanceUID)
        #expect(series.compactMap(\.seriesNumber).sorted() == [1, 2, 3])
        #expect(try ConvertJob.knownPatient("T-1", store: store)?.sex == "F")
        try store.close()
    }

    @Test func folderOutputNeverOverwrites() throws {
        let scratch = Scratch()
        let jpeg = scratch.write("a.jpg", Fixture.jpeg())
        let out = scratch.path + "/out"
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for _ in 0..<2 {
            let summary = try ConvertJob(session: try Fixture.session(), destination: .folder(out)).run([jpeg, scratch.path + "/missing.png"])
            #expect(summary.converted == 1 && summary.failed == 1)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).sorted() == ["a.dcm", "a_2.dcm"])
    }
}

@Suite("Convert: file names")
struct ConvertFileNameTests {
    @Test("a path's file name and stem are cut as NSString's lastPathComponent and deletingPathExtension cut them")
    func fileNamesAsFoundationCutsThem() {
        let paths = ["/a/b.pdf", "b.pdf", "/a/.hidden", "/a/name.", "/a/x.tar.gz", "/a/dir/", "/a/..", "noext", "/a/b c.JPG",
                     "/a/.x.y", "/", "", "a//b.png", "/a/ü.pdf", "/a/b..pdf", "写真/検査.jpeg", "/a/b.", "./c.png", "d/"]
        for path in paths {
            let name = (path as NSString).lastPathComponent
            #expect(ConversionSession.fileName(of: path) == name, "\(path)")
            #expect(ConversionSession.stem(of: path) == (name as NSString).deletingPathExtension, "\(path)")
        }
    }
}
