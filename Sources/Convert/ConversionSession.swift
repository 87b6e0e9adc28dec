#if canImport(Glibc)
import Glibc
#endif
import DICOM
import Foundation
import Reconcile

/// One converted DICOM object.
public struct ConvertedInstance: Sendable {
    /// The input file.
    public var sourcePath: String
    public var sourceFormat: SourceFormat
    public var file: DICOMFile
    /// A file name for a folder output: the input's name, `.dcm`
    /// (`-pages.dcm` for rendered PDF pages, `-N.dcm` for further pages).
    public var suggestedName: String
    /// How it was made: "verbatim JPEG baseline", "decoded (progressive JPEG)", ….
    public var method: String
    public var notes: [String]

    public var sopInstanceUID: String { file.dataset.firstString(.sopInstanceUID) ?? "" }
    public var sopClassUID: String { file.dataset.firstString(.sopClassUID) ?? "" }
    public var frames: Int { file.dataset.firstString(.numberOfFrames).flatMap { Int($0) } ?? 1 }
}

/// Converts loose files into DICOM objects of one patient and one study.
///
/// Every image given to one session goes into one series (Secondary
/// Capture, Modality OT; or VL Photographic, Modality XC), every PDF into
/// one Encapsulated PDF series (Modality DOC), rendered PDF pages into a
/// third; series are created as they are first needed, numbered from
/// ``StudyContext/firstSeriesNumber``. Instance numbers follow the order of
/// the calls to ``convert(_:)``.
///
/// A new study takes its date from the earliest of the inputs' dates
/// (given to ``init(options:inputs:)``); each object's Content Date/Time is
/// its own: the option, else EXIF DateTimeOriginal / PDF CreationDate, else
/// the file's modification time.
public final class ConversionSession {
    public let options: ConvertOptions
    public let studyInstanceUID: String
    public let studyDate: String
    public let studyTime: String
    private var series: [SeriesKind: (uid: String, number: Int, instances: Int)] = [:]
    private var nextSeriesNumber: Int
    private var usedNames: Set<String> = []

    /// `secondaryCapture`: with `--as photo`, the images that cannot be VL
    /// Photographic (a series has one modality and one kind of object).
    enum SeriesKind: Hashable { case images, documents, renderedPages, secondaryCapture }

    public init(options: ConvertOptions, inputs: [String] = []) throws(ConvertError) {
        try options.validate()
        self.options = options
        nextSeriesNumber = options.study.firstSeriesNumber
        if let uid = options.study.studyInstanceUID {
            studyInstanceUID = uid
            studyDate = options.study.studyDate ?? ""
            studyTime = options.study.studyTime ?? ""
        } else {
            studyInstanceUID = UID.generate()
            let earliest = options.dateTime ?? inputs.compactMap { ConversionSession.quickDateTime(path: $0) }.min()
                ?? ConversionSession.dateTime(Date())
            studyDate = String(earliest.prefix(8))
            studyTime = String(earliest.dropFirst(8))
        }
    }

    // MARK: File names

    /// The last component of `path`, as `NSString.lastPathComponent` gives
    /// it (`/a/b.pdf` → `b.pdf`, trailing slashes dropped, `/` kept), cut
    /// on the UTF-8 bytes: bridging to NSString took 2 % of a migration's
    /// CPU.
    static func fileName(of path: String) -> String {
        let (view, start, end) = lastComponent(path)
        return String(decoding: view[start..<end], as: UTF8.self)
    }

    /// ``fileName(of:)`` without its extension, as
    /// `NSString.deletingPathExtension` cuts it (`b.tar.gz` → `b.tar`;
    /// `.hidden` and `..` kept whole).
    static func stem(of path: String) -> String {
        let (view, start, end) = lastComponent(path)
        let name = view[start..<end]
        var stemEnd = end
        if !name.elementsEqual("..".utf8), let dot = name.lastIndex(of: UInt8(ascii: ".")), dot != start {
            stemEnd = dot
        }
        return String(decoding: view[start..<stemEnd], as: UTF8.self)
    }

    private static func lastComponent(_ path: String) -> (String.UTF8View, String.Index, String.Index) {
        let view = path.utf8
        let slash = UInt8(ascii: "/")
        var end = view.endIndex
        while view.distance(from: view.startIndex, to: end) > 1, view[view.index(before: end)] == slash {
            end = view.index(before: end)
        }
        var start = view[..<end].lastIndex(of: slash).map { view.index(after: $0) } ?? view.startIndex
        if start == end { start = view.startIndex }   // "/" itself
        return (view, start, end)
    }

    // MARK: Dates

    /// `YYYYMMDDHHMMSS` in local time (localtime_r: no formatter per file).
    static func dateTime(_ date: Date) -> String {
        dateTime(seconds: time_t(date.timeIntervalSince1970.rounded(.down)))
    }

    static func dateTime(seconds: time_t) -> String {
        var t = seconds
        var parts = tm()
        localtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        return "\(parts.tm_year + 1900)" + two(parts.tm_mon + 1) + two(parts.tm_mday) + two(parts.tm_hour) + two(parts.tm_min) + two(parts.tm_sec)
    }

    /// The file's modification time (one stat(2), no FileManager dictionary).
    static func modificationDateTime(path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return dateTime(seconds: info.st_mtim.tv_sec)
    }

    /// The date a file carries, read cheaply (EXIF in the first 72 KB of a
    /// JPEG, the PDF's Info), else its modification time.
    static func quickDateTime(path: String) -> String? {
        // EXIF sits in APP1 near the start (a segment is at most 64 KB).
        if let prefix = try? InputFile.read(path, limit: 72 * 1024) {
            switch SourceFormat.detect(prefix, name: path) {
            case .jpeg:
                if let date = JPEGStream.exifDateTime(prefix: prefix) { return date }
            case .pdf:
                if let data = try? InputFile.read(path), let info = try? PDFDocumentInfo(data),
                   let date = info.creationDateTime { return date }
            default: break
            }
        }
        return modificationDateTime(path: path)
    }

    // MARK: Converting

    /// Converts one file into one or more DICOM objects (a PDF with
    /// ``ConvertOptions/PDFMode/images``: the document and its pages).
    public func convert(_ path: String) throws(ConvertError) -> [ConvertedInstance] {
        try convert(contents: InputFile.read(path), path: path)
    }

    /// ``convert(_:)`` of a file already read: `contents` are the bytes of
    /// the file at `path` (a TIFF, or a PDF rendered to pages, is read
    /// again from `path` by the library that decodes it; the file's
    /// modification time is its Content Date/Time when it carries none).
    public func convert(contents: Data, path: String) throws(ConvertError) -> [ConvertedInstance] {
        var data = contents
        if data.isEmpty { throw ConvertError(.damaged, "the file is empty", path: path) }
        guard let format = SourceFormat.detect(data.prefix(1024), name: path) else {
            throw ConvertError(.unsupported, "not a JPEG, PNG, TIFF, BMP or PDF file", path: path)
        }
        let stem = ConversionSession.stem(of: path)
        switch format {
        case .jpeg:
            return [try convertJPEG(&data, path: path, stem: stem)]
        case .png:
            let image = try ImageDecoder.png(data, path: path)
            return [try imageInstance(.decoded(image, lossy: nil), path: path, format: format, stem: stem,
                                      dateTime: contentDateTime(path: path, embedded: nil), method: "decoded PNG", notes: image.notes)]
        case .bmp:
            let image = try ImageDecoder.bmp(data, path: path)
            return [try imageInstance(.decoded(image, lossy: nil), path: path, format: format, stem: stem,
                                      dateTime: contentDateTime(path: path, embedded: nil), method: "decoded BMP", notes: [])]
        case .tiff:
            let images = try ImageDecoder.tiff(path: path)
            var out: [ConvertedInstance] = []
            for (k, image) in images.enumerated() {
                out.append(try imageInstance(.decoded(image, lossy: nil), path: path, format: format,
                                             stem: k == 0 ? stem : "\(stem)-\(k + 1)",
                                             dateTime: contentDateTime(path: path, embedded: nil),
                                             method: image.frames.count > 1 ? "decoded TIFF, \(image.frames.count) pages" : "decoded TIFF",
                                             notes: image.notes, document: image.frames.count > 1))
            }
            return out
        case .pdf:
            return try convertPDF(data, path: path, stem: stem)
        }
    }

    private func contentDateTime(path: String, embedded: String?) -> String {
        options.dateTime ?? embedded ?? ConversionSession.modificationDateTime(path: path) ?? ConversionSession.dateTime(Date())
    }

    /// `data` is used up for a verbatim copy (the stream is made in its storage).
    private func convertJPEG(_ data: inout Data, path: String, stem: String) throws(ConvertError) -> ConvertedInstance {
        let stream = try JPEGStream(data, path: path)
        let when = contentDateTime(path: path, embedded: stream.exifDateTime)
        var notes: [String] = []
        if !stream.droppedSegments.isEmpty {
            notes.append("left out: " + Array(Set(stream.droppedSegments)).sorted().joined(separator: ", "))
        }
        if data.count > stream.scanRange.upperBound {
            // A phone's trailer (depth map, motion video, a second picture) or garbage: not the image.
            notes.append("left out: \(data.count - stream.scanRange.upperBound) bytes after the image's end (EOI marker)")
        }
        if stream.isLossless && !stream.isArithmetic && (stream.samplesPerPixel == 1 || stream.photometricInterpretation == "RGB")
            && stream.orientation == 1 {
            // Process 14 has DICOM syntaxes of its own: encapsulated as it is.
            let syntax: TransferSyntax = stream.losslessPredictor == 1 ? .jpegLosslessSV1 : .jpegLossless
            return try imageInstance(.verbatim(stream, stream.encapsulate(&data), syntax: syntax, ratio: 1), path: path, format: .jpeg, stem: stem,
                                     dateTime: when, method: "verbatim JPEG \(stream.processName) (\(syntax.uid))", notes: notes,
                                     iccProfile: stream.iccProfile)
        }
        if stream.isLossless || stream.isHierarchical {
            throw ConvertError(.unsupported, "\(stream.processName) JPEG is not supported (no decoder; not a DICOM image syntax discport writes)", path: path)
        }
        let ratio = Double(stream.rows * stream.columns * stream.samplesPerPixel * (stream.precision > 8 ? 2 : 1)) / Double(max(1, data.count))
        if stream.isSequentialHuffman && stream.orientation == 1 && (stream.samplesPerPixel == 1 || stream.samplesPerPixel == 3) {
            let syntax: TransferSyntax = stream.isBaseline && stream.precision == 8 ? .jpegBaseline : .jpegExtended
            return try imageInstance(.verbatim(stream, stream.encapsulate(&data), syntax: syntax, ratio: ratio), path: path, format: .jpeg, stem: stem,
                                     dateTime: when, method: "verbatim JPEG \(stream.processName) (\(syntax.uid))", notes: notes,
                                     iccProfile: stream.iccProfile)
        }
        if stream.precision != 8 {
            throw ConvertError(.unsupported, "\(stream.precision)-bit \(stream.processName) JPEG cannot be decoded (libjpeg-turbo reads 8-bit only)\(stream.orientation != 1 ? " or turned upright" : "")", path: path)
        }
        var image = try ImageDecoder.jpeg(data, adobeTransform: stream.adobeTransform, path: path)
        var why: [String] = []
        if !stream.isSequentialHuffman { why.append("\(stream.processName) JPEG has no DICOM transfer syntax that is not retired") }
        if stream.samplesPerPixel == 4 { why.append("CMYK converted to RGB") }
        if stream.orientation != 1 {
            image = image.oriented(stream.orientation)
            why.append("turned upright per EXIF orientation \(stream.orientation)")
        }
        notes.append(contentsOf: why)
        return try imageInstance(.decoded(image, lossy: ratio), path: path, format: .jpeg, stem: stem, dateTime: when,
                                 method: "decoded JPEG (\(why.joined(separator: "; ")))", notes: notes,
                                 derivation: "Decoded from \(stream.processName) JPEG: \(why.joined(separator: "; "))",
                                 iccProfile: stream.iccProfile)
    }

    private func convertPDF(_ data: Data, path: String, stem: String) throws(ConvertError) -> [ConvertedInstance] {
        let info = try PDFDocumentInfo(data, path: path)
        let when = contentDateTime(path: path, embedded: info.creationDateTime)
        let whole = options.title ?? info.title ?? ConversionSession.fileName(of: path)
        // Document Title is ST: at most 1024 (bytes, as dciodvfy counts them);
        // the PDF itself keeps its whole title.
        let title = ConversionSession.prefix(whole, bytes: 1024)
        let notes = title == whole ? [] : ["Document Title cut to its first 1024 bytes (the longest ST value); the PDF keeps its whole title"]
        var out = [try documentInstance(data, path: path, stem: stem, title: title, dateTime: when, notes: notes)]
        if options.pdfMode == .images {
            let pages = try PDFRenderer.render(path: path, dpi: options.renderDPI)
            for (k, image) in pages.enumerated() {
                out.append(try imageInstance(.decoded(image, lossy: nil), path: path, format: .pdf,
                                             stem: k == 0 ? "\(stem)-pages" : "\(stem)-pages-\(k + 1)", dateTime: when,
                                             method: "PDF pages rendered at \(options.renderDPI) dpi (poppler)",
                                             notes: [], document: true, seriesKind: .renderedPages,
                                             derivation: "Pages of the PDF document \"\(ConversionSession.prefix(whole, bytes: 900))\" rendered at \(options.renderDPI) dpi"))
            }
        }
        return out
    }

    // MARK: Data sets

    enum Pixels {
        /// A JPEG stream copied as it is: its markers, the stream to encapsulate.
        case verbatim(JPEGStream, Data, syntax: TransferSyntax, ratio: Double)
        /// Uncompressed pixels; `lossy` is the compression ratio of a lossy source.
        case decoded(DecodedImage, lossy: Double?)
    }

    private func nextInstance(_ kind: SeriesKind) -> (uid: String, number: Int, instance: Int) {
        var entry = series[kind] ?? {
            defer { nextSeriesNumber += 1 }
            return (UID.generate(), nextSeriesNumber, 0)
        }()
        entry.instances += 1
        series[kind] = entry
        return (entry.uid, entry.number, entry.instances)
    }

    private func uniqueName(_ stem: String) -> String {
        var name = stem + ".dcm"
        var k = 2
        while usedNames.contains(name.lowercased()) { name = "\(stem)_\(k).dcm"; k += 1 }
        usedNames.insert(name.lowercased())
        return name
    }

    /// Patient, General Study, General Series, General Equipment, SC
    /// Equipment and SOP Common attributes shared by every IOD written.
    private func commonDataset(sopClass: String, modality: String, seriesKind: SeriesKind, dateTime: String,
                               extraTexts: [String], secondaryCapture: Bool = true) throws(ConvertError) -> Dataset {
        let (seriesUID, seriesNumber, instanceNumber) = nextInstance(seriesKind)
        let now = ConversionSession.dateTime(Date())
        let p = options.patient, s = options.study
        var seriesDescription = options.seriesDescription
        if seriesKind == .renderedPages { seriesDescription = seriesDescription.map { "\($0) (pages)" } ?? "PDF pages" }
        let texts = [p.patientID, p.patientName ?? "", p.issuerOfPatientID ?? "", s.studyDescription ?? "", s.accessionNumber ?? "",
                     s.studyID ?? "", seriesDescription ?? ""] + extraTexts
        var ds = Dataset()
        if !texts.allSatisfy({ $0.allSatisfy(\.isASCII) }) {
            // Japan first, and the brief of this tool: UTF-8 for any non-ASCII text.
            try set(&ds, .specificCharacterSet, .CS, "ISO_IR 192")
        }
        try set(&ds, .instanceCreationDate, .DA, String(now.prefix(8)))
        try set(&ds, .instanceCreationTime, .TM, String(now.dropFirst(8)))
        try set(&ds, .sopClassUID, .UI, sopClass)
        try set(&ds, .sopInstanceUID, .UI, UID.generate())
        try set(&ds, .studyDate, .DA, studyDate)
        try set(&ds, .seriesDate, .DA, String(dateTime.prefix(8)))
        try set(&ds, .contentDate, .DA, String(dateTime.prefix(8)))
        try set(&ds, .studyTime, .TM, studyTime)
        try set(&ds, .seriesTime, .TM, String(dateTime.dropFirst(8)))
        try set(&ds, .contentTime, .TM, String(dateTime.dropFirst(8)))
        try set(&ds, .accessionNumber, .SH, s.accessionNumber ?? "")
        try set(&ds, .modality, .CS, modality)
        if secondaryCapture { try set(&ds, .conversionType, .CS, "WSD") }
        try set(&ds, .manufacturer, .LO, "")
        try set(&ds, .referringPhysicianName, .PN, "")
        if let description = s.studyDescription { try set(&ds, .studyDescription, .LO, description) }
        if let seriesDescription { try set(&ds, .seriesDescription, .LO, seriesDescription) }
        try set(&ds, .patientName, .PN, p.patientName ?? "")
        try set(&ds, .patientID, .LO, p.patientID)
        if let issuer = p.issuerOfPatientID { try set(&ds, .issuerOfPatientID, .LO, issuer) }
        try set(&ds, .patientBirthDate, .DA, p.birthDate ?? "")
        try set(&ds, .patientSex, .CS, p.sex ?? "")
        if secondaryCapture {
            try set(&ds, .secondaryCaptureDeviceManufacturer, .LO, "discport")
            try set(&ds, .secondaryCaptureDeviceSoftwareVersions, .LO, UID.implementationVersionName)
        }
        try set(&ds, .studyInstanceUID, .UI, studyInstanceUID)
        try set(&ds, .seriesInstanceUID, .UI, seriesUID)
        // A new study gets a Study ID (DICOMDIR STUDY records need one).
        try set(&ds, .studyID, .SH, s.studyID ?? (s.studyInstanceUID == nil ? "D" + studyDate + String(studyTime.prefix(6)) : ""))
        try set(&ds, .seriesNumber, .IS, String(seriesNumber))
        try set(&ds, .instanceNumber, .IS, String(instanceNumber))
        return ds
    }

    private func set(_ ds: inout Dataset, _ tag: Tag, _ vr: VR, _ text: String) throws(ConvertError) {
        do {
            try ds.setString(text, vr: vr, for: tag)
        } catch {
            throw ConvertError(.invalidOption, "\(DataDictionary.entry(for: tag)?.name ?? tag.description) '\(text)' cannot be encoded: \(error)")
        }
    }

    private func imageInstance(_ pixels: Pixels, path: String, format: SourceFormat, stem: String, dateTime: String,
                               method: String, notes: [String], document: Bool = false,
                               seriesKind: SeriesKind = .images, derivation: String? = nil,
                               iccProfile: Data? = nil) throws(ConvertError) -> ConvertedInstance {
        let wantsPhoto = options.imageIOD == .photo && seriesKind == .images
        let rows: Int, columns: Int, samples: Int, bits: Int, bitsStored: Int, photometric: String, frames: Int
        switch pixels {
        case .verbatim(let stream, _, _, _):
            (rows, columns, samples) = (stream.rows, stream.columns, stream.samplesPerPixel)
            bits = stream.precision > 8 ? 16 : 8
            bitsStored = stream.precision
            photometric = stream.photometricInterpretation
            frames = 1
        case .decoded(let image, _):
            (rows, columns, samples, bits) = (image.rows, image.columns, image.samplesPerPixel, image.bitsAllocated)
            bitsStored = bits
            photometric = image.photometricInterpretation
            frames = image.frames.count
        }
        guard rows <= 0xFFFF, columns <= 0xFFFF else {
            throw ConvertError(.unsupported, "\(columns)×\(rows) pixels: DICOM allows at most 65535 rows and columns", path: path)
        }
        let multiFrame = frames > 1
        // The VL Image Module (PS3.3 C.8.12.1) holds one frame of 8-bit
        // pixels, RGB only uncompressed or lossless: any other image is
        // written as Secondary Capture, in a series of its own, and says so.
        var photo = wantsPhoto, seriesKind = seriesKind, notes = notes
        if wantsPhoto {
            var lossyRGB = false
            if case .verbatim(_, _, let syntax, _) = pixels { lossyRGB = syntax.isLossy && photometric == "RGB" }
            let why = multiFrame ? "\(frames) frames" : bits != 8 ? "\(bitsStored)-bit pixels" : lossyRGB ? "lossy JPEG in RGB" : nil
            if let why {
                photo = false
                seriesKind = .secondaryCapture
                notes.append("Secondary Capture, not VL Photographic Image (which holds one frame of 8-bit pixels, RGB only uncompressed or lossless): \(why)")
            }
        }
        let sopClass: String
        if photo {
            sopClass = "1.2.840.10008.5.1.4.1.1.77.1.4"
        } else if multiFrame {
            sopClass = samples == 3 ? "1.2.840.10008.5.1.4.1.1.7.4" : (bits == 8 ? "1.2.840.10008.5.1.4.1.1.7.2" : "1.2.840.10008.5.1.4.1.1.7.3")
        } else {
            sopClass = "1.2.840.10008.5.1.4.1.1.7"
        }
        let modality = photo ? "XC" : "OT"
        var ds = try commonDataset(sopClass: sopClass, modality: modality, seriesKind: seriesKind, dateTime: dateTime,
                                   extraTexts: [derivation ?? ""], secondaryCapture: !photo)
        let verbatim: Bool
        if case .verbatim = pixels { verbatim = true } else { verbatim = false }
        if photo {
            try set(&ds, .imageType, .CS, verbatim ? "ORIGINAL\\PRIMARY" : "DERIVED\\PRIMARY")
            try set(&ds, .acquisitionDateTime, .DT, dateTime)
            ds.setSequence([], for: .acquisitionContextSequence)
        } else {
            try set(&ds, .imageType, .CS, "DERIVED\\SECONDARY")
        }
        try set(&ds, .patientOrientation, .CS, "")
        // Laterality (Type 2C) present and empty, "unknown": dciodvfy warns
        // that it should be absent for an unpaired body part, but reports
        // an error when it is absent (it cannot tell the body part of a
        // converted picture).
        try set(&ds, .laterality, .CS, "")
        if let derivation { try set(&ds, .derivationDescription, .ST, derivation) }
        if document || multiFrame { try set(&ds, .burnedInAnnotation, .CS, "YES") }
        if let iccProfile, samples == 3, iccProfile.count >= 128 {
            // ICC Profile module: how the RGB values are meant to look.
            ds.set(DataElement(tag: .iccProfile, vr: .OB, bytes: iccProfile))
        }
        ds.setIntegers([samples], vr: .US, for: .samplesPerPixel)
        try set(&ds, .photometricInterpretation, .CS, photometric)
        if samples > 1 { ds.setIntegers([0], vr: .US, for: .planarConfiguration) }
        ds.setIntegers([rows], vr: .US, for: .rows)
        ds.setIntegers([columns], vr: .US, for: .columns)
        ds.setIntegers([bits], vr: .US, for: .bitsAllocated)
        ds.setIntegers([bitsStored], vr: .US, for: .bitsStored)
        ds.setIntegers([bitsStored - 1], vr: .US, for: .highBit)
        ds.setIntegers([0], vr: .US, for: .pixelRepresentation)
        if multiFrame {
            try set(&ds, .numberOfFrames, .IS, String(frames))
            // Frame Increment Pointer → Page Number Vector (0018,2001).
            ds.set(DataElement(tag: .frameIncrementPointer, vr: .AT, bytes: Data([0x18, 0x00, 0x01, 0x20])))
            try set(&ds, .pageNumberVector, .IS, (1...frames).map(String.init).joined(separator: "\\"))
            if samples == 1 {
                try set(&ds, .rescaleIntercept, .DS, "0")
                try set(&ds, .rescaleSlope, .DS, "1")
                try set(&ds, .rescaleType, .LO, "US")
                try set(&ds, .presentationLUTShape, .CS, "IDENTITY")
            }
        }
        let syntax: TransferSyntax
        switch pixels {
        case .verbatim(_, let fragment, let jpegSyntax, let ratio):
            syntax = jpegSyntax
            if jpegSyntax.isLossy {
                try lossy(&ds, ratio: ratio)
            } else {
                try set(&ds, .lossyImageCompression, .CS, "00")
            }

            // Already even (PS3.5 A.4: a trailing NUL after an odd stream).
            ds.set(DataElement(tag: .pixelData, vr: .OB, value: .fragments(EncapsulatedPixelData(fragments: [fragment])),
                               hasUndefinedLength: true))
        case .decoded(let image, let ratio):
            syntax = .explicitVRLittleEndian
            if let ratio {
                try lossy(&ds, ratio: ratio)
            } else {
                try set(&ds, .lossyImageCompression, .CS, "00")
            }
            var all = Data(capacity: image.frameSize * image.frames.count)
            for frame in image.frames { all.append(frame) }
            ds.set(DataElement(tag: .pixelData, vr: bits == 8 ? .OB : .OW, bytes: all))
        }
        return ConvertedInstance(sourcePath: path, sourceFormat: format,
                                 file: DICOMFile(dataset: ds, transferSyntax: syntax),
                                 suggestedName: uniqueName(stem), method: method, notes: notes)
    }

    private func lossy(_ ds: inout Dataset, ratio: Double) throws(ConvertError) {
        try set(&ds, .lossyImageCompression, .CS, "01")
        try set(&ds, .lossyImageCompressionRatio, .DS, String(format: "%.2f", ratio))
        try set(&ds, .lossyImageCompressionMethod, .CS, "ISO_10918_1")
    }

    /// The longest start of `text` of at most `bytes` UTF-8 bytes, cut
    /// between characters.
    static func prefix(_ text: String, bytes: Int) -> String {
        guard text.utf8.count > bytes else { return text }
        var out = "", count = 0
        for character in text {
            let size = character.utf8.count
            if count + size > bytes { break }
            out.append(character)
            count += size
        }
        return out
    }

    private func documentInstance(_ pdf: Data, path: String, stem: String, title: String, dateTime: String,
                                  notes: [String]) throws(ConvertError) -> ConvertedInstance {
        var ds = try commonDataset(sopClass: "1.2.840.10008.5.1.4.1.1.104.1", modality: "DOC", seriesKind: .documents,
                                   dateTime: dateTime, extraTexts: [title])
        try set(&ds, .acquisitionDateTime, .DT, dateTime)
        try set(&ds, .burnedInAnnotation, .CS, "YES")
        ds.setSequence([], for: .conceptNameCodeSequence)
        try set(&ds, .documentTitle, .ST, title)
        guard pdf.count < 0xFFFF_FFFE else { throw ConvertError(.unsupported, "PDF larger than 4 GB", path: path) }
        ds.set(DataElement(tag: .encapsulatedDocument, vr: .OB, bytes: pdf))   // the writer pads to even with NUL
        try set(&ds, .mimeTypeOfEncapsulatedDocument, .LO, "application/pdf")
        ds.setIntegers([pdf.count], vr: .UL, for: .encapsulatedDocumentLength)
        return ConvertedInstance(sourcePath: path, sourceFormat: .pdf,
                                 file: DICOMFile(dataset: ds, transferSyntax: .explicitVRLittleEndian),
                                 suggestedName: uniqueName(stem), method: "encapsulated PDF", notes: notes)
    }
}

extension JPEGStream {
    /// EXIF date from the start of a JPEG file, without reading the rest.
    static func exifDateTime(prefix: Data) -> String? {
        let b = [UInt8](prefix)
        var i = 2
        while i + 4 <= b.count, b[i] == 0xFF {
            let marker = b[i + 1]
            if marker == 0xDA || marker == 0xD9 { return nil }
            let length = Int(b[i + 2]) << 8 | Int(b[i + 3])
            if marker == 0xE1, i + 2 + length <= b.count, b[(i + 4)...].starts(with: Array("Exif\0\0".utf8)) {
                return EXIF(Array(b[(i + 10)..<(i + 2 + length)])).dateTime
            }
            i += 2 + length
        }
        return nil
    }
}
