import Foundation

/// A DICOM file as read from disk: optional Part 10 preamble and file meta
/// information, and the data set.
///
/// Files without a Part 10 header (raw data sets, common on old discs) are
/// read too: ``hasFileMeta`` is false and the transfer syntax is detected
/// from the content.
public struct DICOMFile: Sendable {
    /// The 128-byte preamble, when the file has one.
    public var preamble: Data?
    /// File meta information, group 0002 (empty when the file has none).
    public var meta: Dataset
    /// The data set.
    public var dataset: Dataset
    /// The transfer syntax the data set was (or will be) encoded with.
    public var transferSyntax: TransferSyntax
    /// Byte offset of the (7FE0,0010) Pixel Data tag, when it was reached or
    /// the reading stopped before it (header mode).
    public var pixelDataOffset: Int?
    /// Byte offset where the data set starts (after the meta information).
    public var datasetOffset: Int
    /// Size of the file in bytes, when read from disk.
    public var fileSize: Int?
    /// Lenient mode: the fault that stopped reading early; nil when the file
    /// was read to its end (or to pixel data in header mode).
    public var error: DICOMError?
    /// Deviations that did not stop reading (odd lengths, a transfer syntax
    /// that disagreed with the content, …).
    public var warnings: [DICOMError]

    public init(meta: Dataset = Dataset(), dataset: Dataset, transferSyntax: TransferSyntax, preamble: Data? = Data(count: 128)) {
        self.preamble = preamble
        self.meta = meta
        self.dataset = dataset
        self.transferSyntax = transferSyntax
        self.pixelDataOffset = nil
        self.datasetOffset = 0
        self.fileSize = nil
        self.error = nil
        self.warnings = []
    }

    /// The file had a Part 10 header (`DICM` and group 0002).
    public var hasFileMeta: Bool { !meta.isEmpty }

    /// Media Storage SOP Class UID from the meta, else SOP Class UID.
    public var sopClassUID: String? {
        meta.firstString(.mediaStorageSOPClassUID) ?? dataset.firstString(.sopClassUID)
    }

    /// Media Storage SOP Instance UID from the meta, else SOP Instance UID.
    public var sopInstanceUID: String? {
        meta.firstString(.mediaStorageSOPInstanceUID) ?? dataset.firstString(.sopInstanceUID)
    }
}

// MARK: - Reading

extension DICOMFile {
    /// Bytes read first in header mode: most headers fit (CT and MR with
    /// their private groups are 2–8 KB); a longer one goes on from where
    /// this stopped. 4 KB first costs a second read for half of them.
    public static let headerProbeSize = 8 * 1024
    /// The second read of a longer header; from there the read grows by 8×.
    static let secondProbeSize = 16 * 1024

    /// Reads a file from disk.
    ///
    /// In header mode (``ReadOptions/stopBeforePixelData``) only the first
    /// few kilobytes are read, more only when the header is longer.
    public init(contentsOf path: String, options: ReadOptions = .full) throws(DICOMError) {
        // Every initializer fills an empty file in place: a file handed
        // from a function or another initializer to `self` is copied (every
        // Data, data set and array in it retained and released again).
        self.init(dataset: Dataset(), transferSyntax: .explicitVRLittleEndian, preamble: nil)
        let file = try ReadOnlyFile(path: path)
        defer { file.close() }
        if options.stopBeforePixelData {
            try DICOMFile.read(into: &self, size: file.size, path: path, options: options, prefix: file.read(count:))
            return
        }
        let data = try file.read(count: file.size)
        try DICOMFile.parse(into: &self, data: data, options: options, path: path)
        fileSize = file.size
    }

    /// Reads a header (``ReadOptions/stopBeforePixelData``) from any byte
    /// source — a file, an entry of an ISO image or a zip — that can give
    /// its first `count` bytes. A few kilobytes are asked for first, more
    /// only when the header is longer.
    public init(size: Int, path: String?, options: ReadOptions = .header,
                prefix: (_ count: Int) throws(DICOMError) -> Data) throws(DICOMError) {
        self.init(dataset: Dataset(), transferSyntax: .explicitVRLittleEndian, preamble: nil)
        try DICOMFile.read(into: &self, size: size, path: path, options: options, prefix: prefix)
    }

    /// Parses an in-memory file or data set.
    public init(data: Data, options: ReadOptions = .full, path: String? = nil) throws(DICOMError) {
        self.init(dataset: Dataset(), transferSyntax: .explicitVRLittleEndian, preamble: nil)
        try DICOMFile.parse(into: &self, data: data, options: options, path: path)
    }

    /// Parses an in-memory file, handing every item of the top-level
    /// sequence `tag` to `body` as soon as it is read instead of keeping it:
    /// the element stays in the data set, without items. A DICOMDIR's
    /// Directory Record Sequence — tens of thousands of items on a full
    /// disc — is then made into records one item at a time, never held as
    /// data sets all at once. Items already handed over stay handed over
    /// when the parse stops at a fault further on. (A deflated data set is
    /// parsed apart once inflated; its items are kept as usual.)
    public init(data: Data, options: ReadOptions = .full, path: String? = nil,
                handingItemsOf tag: Tag, to body: (consuming Dataset) -> Void) throws(DICOMError) {
        self.init(dataset: Dataset(), transferSyntax: .explicitVRLittleEndian, preamble: nil)
        let outcome = withoutActuallyEscaping(body) { visit -> Result<Void, ParseFailure> in
            var resume: ResumePoint?
            return Result { () throws(ParseFailure) in
                try DICOMFile.parse(into: &self, data: data, isComplete: true, options: options, path: path, resume: &resume,
                                    itemVisitor: ItemVisitor(tag: tag, visit: visit))
            }
        }
        do {
            try outcome.get()
        } catch let failure {
            throw DICOMFile.error(from: failure)
        }
    }

    /// ``init(size:path:options:prefix:)`` into an empty `file`.
    private static func read(into file: inout DICOMFile, size: Int, path: String?, options: ReadOptions,
                             prefix: (_ count: Int) throws(DICOMError) -> Data) throws(DICOMError) {
        // A whole-file read (a DICOMDIR) takes the whole file at once rather
        // than growing the probe and parsing again.
        var probe = options.stopBeforePixelData ? min(size, DICOMFile.headerProbeSize) : size
        var resume: ResumePoint?
        var isFirstRead = true
        while true {
            let data = try prefix(probe)
            if !isFirstRead && resume == nil {
                // Out of bytes before the data set (in the meta): start again.
                file = DICOMFile(dataset: Dataset(), transferSyntax: .explicitVRLittleEndian, preamble: nil)
            }
            isFirstRead = false
            do {
                try DICOMFile.parse(into: &file, data: data, isComplete: probe >= size || data.count < probe, options: options, path: path, resume: &resume)
                file.fileSize = size
                return
            } catch let failure {
                guard case .needMoreData = failure else { throw DICOMFile.error(from: failure) }
                probe = min(size, probe < DICOMFile.secondProbeSize ? DICOMFile.secondProbeSize : probe * 8)
            }
        }
    }

    /// ``init(data:options:path:)`` into an empty `file`.
    private static func parse(into file: inout DICOMFile, data: Data, options: ReadOptions, path: String?) throws(DICOMError) {
        var resume: ResumePoint?
        do {
            try DICOMFile.parse(into: &file, data: data, isComplete: true, options: options, path: path, resume: &resume)
        } catch let failure {
            throw DICOMFile.error(from: failure)
        }
    }

    /// Parses a data set without Part 10 header whose transfer syntax is
    /// known rather than sniffed: a DIMSE command set (implicit VR little
    /// endian) or a data set received over an association in the
    /// negotiated syntax. A deflated syntax is inflated first.
    public init(datasetData data: Data, transferSyntax: TransferSyntax, options: ReadOptions = .full) throws(DICOMError) {
        var result = DICOMFile(dataset: Dataset(), transferSyntax: transferSyntax, preamble: nil)
        var bytes = data
        if transferSyntax.isDeflated {
            do {
                bytes = try Inflate.raw(data)
            } catch {
                throw DICOMError(.badDeflate, "deflated data set does not inflate: \(error.message)")
            }
        }
        let explicit = transferSyntax.isDeflated || transferSyntax.isExplicitVR
        let outcome = bytes.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Result<Void, ParseFailure> in
            var parser = Parser(buffer: raw, data: bytes, isComplete: true, options: options, path: nil)
            return Result { () throws(ParseFailure) in
                try parser.parseDataset(into: &result, explicit: explicit, bigEndian: transferSyntax.isBigEndian)
            }
        }
        do {
            try outcome.get()
        } catch let failure {
            throw DICOMFile.error(from: failure)
        }
        self = result
    }

    private static func error(from failure: ParseFailure) -> DICOMError {
        switch failure {
        case .error(let error): return error
        case .needMoreData: return DICOMError(.truncated, "unexpected end of data")
        }
    }

    /// Parses `data`, a prefix of a file or all of it, into `file` (empty,
    /// or as a shorter read left it). `resume` goes on where the parse of a
    /// shorter prefix stopped; when this prefix is too short too, it is left
    /// where to go on from (nil: start again).
    static func parse(into file: inout DICOMFile, data: Data, isComplete: Bool, options: ReadOptions, path: String?,
                      resume: inout ResumePoint?, itemVisitor: ItemVisitor? = nil) throws(ParseFailure) {
        var resuming: ResumePoint?
        swap(&resuming, &resume)   // taken, not copied
        var failure: ParseFailure?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var parser = Parser(buffer: raw, data: data, isComplete: isComplete, options: options, path: path)
            parser.itemVisitor = itemVisitor
            do throws(ParseFailure) {
                try parser.parseFile(into: &file, resuming: &resuming)
            } catch {
                failure = error
                swap(&resume, &parser.resumePoint)
            }
        }
        if let failure { throw failure }
        if file.transferSyntax.isDeflated, file.error == nil {
            // The deflated stream cannot be parsed from a prefix: a header
            // read asks for the whole file.
            if !isComplete { throw .needMoreData }
            try file.inflateAndParse(data: data, options: options, path: path)
        }
    }

    private mutating func inflateAndParse(data: Data, options: ReadOptions, path: String?) throws(ParseFailure) {
        let compressed = data[(data.startIndex + datasetOffset)...]
        let inflated: Data
        do {
            inflated = try Inflate.raw(compressed)
        } catch {
            let failure = DICOMError(.badDeflate, "deflated data set does not inflate: \(error.message)", path: path, offset: datasetOffset)
            if options.lenient { self.error = failure; return }
            throw .error(failure)
        }
        var inner = DICOMFile(dataset: Dataset(), transferSyntax: .explicitVRLittleEndian, preamble: nil)
        let outcome = inflated.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> Result<Void, ParseFailure> in
            var parser = Parser(buffer: raw, data: inflated, isComplete: true, options: options, path: path)
            parser.offsetNote = " in the inflated data set"
            return Result { () throws(ParseFailure) in try parser.parseDataset(into: &inner, explicit: true, bigEndian: false) }
        }
        try outcome.get()
        dataset = inner.dataset
        error = inner.error
        warnings += inner.warnings
        pixelDataOffset = nil
    }
}

/// Internal: a parse either fails with a user-facing error or needs more
/// bytes than the header probe holds.
enum ParseFailure: Error {
    case error(DICOMError)
    case needMoreData
}
