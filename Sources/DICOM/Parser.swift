import Foundation

/// Where a header read ran out of bytes at the top level of the data set:
/// the file read so far and the element to go on from, once a longer prefix
/// of the same file is at hand. Elements read in full are not read again.
struct ResumePoint {
    var file: DICOMFile
    var position: Int
    var explicit: Bool
    var bigEndian: Bool
    var warnings: [DICOMError]
}

/// Where the items of one top-level sequence go as they are read
/// (``DICOMFile/init(data:options:path:handingItemsOf:to:)``).
struct ItemVisitor {
    let tag: Tag
    let visit: (consuming Dataset) -> Void
}

/// The data set parser. Works on one contiguous buffer; every read is bounds
/// checked, so hostile or truncated input yields an error, never a trap.
struct Parser {
    let buffer: UnsafeRawBufferPointer
    /// The buffer's owner, so values can be slices instead of copies.
    let data: Data
    /// The buffer holds everything to the end of the file.
    let isComplete: Bool
    let options: ReadOptions
    let path: String?
    var position = 0
    var depth = 0
    /// Appended to offsets in messages ("in the inflated data set").
    var offsetNote = ""
    var warnings: [DICOMError] = []
    /// Explicit VRs by their letters (``VR/byLetters``).
    let vrs = VR.byLetters
    /// Where the top-level element being read starts, and how many warnings
    /// there were before it: where a header read goes on with more bytes.
    var topLevelElementStart = 0
    var topLevelWarningCount = 0
    /// Set when ``parseFile(into:resuming:)`` ran out of bytes at the top
    /// level of the data set.
    var resumePoint: ResumePoint?
    /// Takes the items of one top-level sequence as they are read, instead
    /// of the sequence keeping them.
    var itemVisitor: ItemVisitor?

    static let undefinedLength: UInt32 = 0xFFFF_FFFF

    init(buffer: UnsafeRawBufferPointer, data: Data, isComplete: Bool, options: ReadOptions, path: String?) {
        self.buffer = buffer
        self.data = data
        self.isComplete = isComplete
        self.options = options
        self.path = path
    }

    // MARK: Primitive reads

    func failure(_ kind: DICOMError.Kind, _ message: String, at offset: Int? = nil, tag: Tag? = nil) -> ParseFailure {
        .error(DICOMError(kind, message + offsetNote, path: path, offset: offset ?? position, tag: tag))
    }

    /// Ensures `count` bytes are available at `position`.
    ///
    /// `mutating` only so that calling it does not copy the parser (and
    /// retain its `data`, `path` and `warnings`): a non-mutating call from
    /// the mutating parse loops made the compiler copy `self` on every
    /// element (seen in `perf`: the copy and its retains and releases).
    @inline(__always)
    mutating func need(_ count: Int, for what: @autoclosure () -> String, tag: Tag? = nil) throws(ParseFailure) {
        if position + count > buffer.count {
            throw shortage(count, what(), tag: tag)
        }
    }

    @inline(never)
    func shortage(_ count: Int, _ what: String, tag: Tag?) -> ParseFailure {
        if !isComplete { return .needMoreData }
        return failure(.truncated, "file ends inside \(what) (\(count) bytes needed, \(buffer.count - position) left)", tag: tag)
    }

    @inline(__always)
    func slice(_ start: Int, _ count: Int) -> Data {
        data[(data.startIndex + start)..<(data.startIndex + start + count)]
    }

    // MARK: File structure

    /// Reads a file from the start of the buffer, or goes on where a read
    /// of a shorter prefix of the same file stopped.
    /// The resume point is taken (left nil), so the data set it holds is
    /// not shared and grows without being copied.
    mutating func parseFile(into file: inout DICOMFile, resuming resume: inout ResumePoint?) throws(ParseFailure) {
        if resume != nil {
            swap(&file, &resume!.file)
            let point = resume!
            resume = nil
            file.dataset.rebase(onto: data)
            position = point.position
            warnings = point.warnings
            try parseTopLevel(into: &file, explicit: point.explicit, bigEndian: point.bigEndian)
            return
        }
        // Part 10: 128-byte preamble then "DICM"; tolerate "DICM" at 0.
        var metaStart: Int?
        if buffer.count >= 132, buffer[128] == 0x44, buffer[129] == 0x49, buffer[130] == 0x43, buffer[131] == 0x4D {
            file.preamble = slice(0, 128)
            metaStart = 132
        } else if buffer.count >= 4, buffer[0] == 0x44, buffer[1] == 0x49, buffer[2] == 0x43, buffer[3] == 0x4D {
            metaStart = 4
            warnings.append(DICOMError(.malformed, "\"DICM\" without the 128-byte preamble", path: path, offset: 0))
        } else if buffer.count >= 8, buffer.u16(at: 0, bigEndian: false) == 0x0002 {
            metaStart = 0   // file meta without preamble
            warnings.append(DICOMError(.malformed, "file meta information without preamble and \"DICM\"", path: path, offset: 0))
        }

        if let metaStart {
            position = metaStart
            do {
                try parseMeta(into: &file)
            } catch .error(let error) where options.lenient {
                file.error = error
                finish(&file)
                return
            }
        }
        file.datasetOffset = position

        let declared = transferSyntax(in: file.meta)
        var explicit: Bool
        var bigEndian: Bool
        if let declared {
            file.transferSyntax = declared
            explicit = declared.isExplicitVR
            bigEndian = declared.isBigEndian
            if declared.isDeflated { finish(&file); return }
            // Broken writers declare one syntax and write another: trust the content.
            if position + 8 <= buffer.count, let sniffed = sniffEncoding(at: position),
               sniffed.explicit != explicit || sniffed.bigEndian != bigEndian {
                warnings.append(DICOMError(.malformed, "transfer syntax \(declared.uid) disagrees with the content, which is \(sniffed.explicit ? "explicit" : "implicit") VR \(sniffed.bigEndian ? "big" : "little") endian; reading it as the content says", path: path, offset: position))
                explicit = sniffed.explicit
                bigEndian = sniffed.bigEndian
                file.transferSyntax = sniffed.explicit ? (sniffed.bigEndian ? .explicitVRBigEndian : .explicitVRLittleEndian) : .implicitVRLittleEndian
            }
        } else {
            if position >= buffer.count && isComplete && metaStart != nil {
                finish(&file)   // meta only, empty data set
                return
            }
            if metaStart == nil && isComplete && position + 8 > buffer.count {
                // Shorter than one element header and no "DICM": not DICOM at all.
                throw failure(.notDICOM, "no DICOM preamble and too short (\(buffer.count) bytes) to be a DICOM data set", at: position)
            }
            try need(8, for: "the first data element")
            guard let sniffed = sniffEncoding(at: position) else {
                throw failure(.notDICOM, metaStart == nil
                    ? "no DICOM preamble and the content is not a DICOM data set"
                    : "the data set after the file meta information is not DICOM", at: position)
            }
            if metaStart != nil {
                warnings.append(DICOMError(.malformed, "file meta information has no (0002,0010) Transfer Syntax UID; detected from the content", path: path, offset: position))
            }
            explicit = sniffed.explicit
            bigEndian = sniffed.bigEndian
            file.transferSyntax = explicit ? (bigEndian ? .explicitVRBigEndian : .explicitVRLittleEndian) : .implicitVRLittleEndian
        }

        file.dataset = Dataset(parsing: data)
        // Room for the elements the bytes can hold (headers average ~32
        // bytes an element; a CT or MR header has 100–300), within bounds:
        // saves the growth copies.
        file.dataset.reserveCapacity(min(256, max(64, (buffer.count - position) / 32)))
        try parseTopLevel(into: &file, explicit: explicit, bigEndian: bigEndian)
    }

    /// The top-level data set, into `file.dataset` (which may hold the
    /// elements a shorter read got). Out of bytes, it leaves a
    /// ``ResumePoint`` at the element that did not fit.
    private mutating func parseTopLevel(into file: inout DICOMFile, explicit: Bool, bigEndian: Bool) throws(ParseFailure) {
        var dataset = Dataset()
        swap(&dataset, &file.dataset)   // parsed in place, not copied on write
        do {
            let stop = try parseElements(into: &dataset, end: nil, explicit: explicit, bigEndian: bigEndian, topLevel: true)
            if case .pixelData(let offset) = stop { file.pixelDataOffset = offset }
        } catch .error(let error) where options.lenient {
            file.error = error
        } catch .needMoreData {
            // Elements are added only once read in full: everything in the
            // data set stays, the element that did not fit is read again.
            warnings.removeSubrange(topLevelWarningCount...)
            var read = DICOMFile(dataset: Dataset(), transferSyntax: file.transferSyntax, preamble: nil)
            swap(&read, &file)   // moved, not copied: the caller gives up on `file`
            read.dataset = consume dataset
            resumePoint = ResumePoint(file: read, position: topLevelElementStart, explicit: explicit, bigEndian: bigEndian, warnings: warnings)
            throw .needMoreData
        }
        if file.pixelDataOffset == nil { file.pixelDataOffset = pixelDataPosition }
        file.dataset = consume dataset
        finish(&file)
    }

    mutating func parseDataset(into file: inout DICOMFile, explicit: Bool, bigEndian: Bool) throws(ParseFailure) {
        var dataset = Dataset(parsing: data)
        do {
            _ = try parseElements(into: &dataset, end: nil, explicit: explicit, bigEndian: bigEndian, topLevel: true)
        } catch .error(let error) where options.lenient {
            file.error = error
        }
        file.dataset = consume dataset
        finish(&file)
    }

    private func finish(_ file: inout DICOMFile) {
        file.warnings.append(contentsOf: warnings)
    }

    /// Group 0002, explicit VR little endian (implicit tolerated), read while
    /// the group is 0002.
    private mutating func parseMeta(into file: inout DICOMFile) throws(ParseFailure) {
        var meta = Dataset(parsing: data)
        meta.reserveCapacity(8)   // PS3.10 defines eight elements
        let explicit = sniffEncoding(at: position)?.explicit ?? true
        if !explicit {
            warnings.append(DICOMError(.malformed, "file meta information is implicit VR (PS3.10 requires explicit VR little endian)", path: path, offset: position))
        }
        do throws(ParseFailure) {
            var last = Parser.noTag
            while true {
                if position + 4 > buffer.count {
                    if isComplete { break }
                    throw ParseFailure.needMoreData
                }
                let tag = buffer.tag(at: position, bigEndian: false)
                if tag.group != 0x0002 { break }
                if explicit && appendShortExplicitLE(tag, into: &meta, end: nil, after: &last) { continue }
                try parseElement(into: &meta, end: nil, explicit: explicit, bigEndian: false)
                last = Parser.key(meta.lastTag)
            }
        } catch {
            file.meta = consume meta
            throw error
        }
        file.meta = consume meta
    }

    /// The syntax (0002,0010) names, straight from its bytes (UIDs are
    /// ASCII): the first value without NUL or space padding; nil when absent
    /// or empty. A known UID makes no `String` at all.
    func transferSyntax(in meta: Dataset) -> TransferSyntax? {
        if case .inBuffer(let range, _) = meta.parsedValue(.transferSyntaxUID) {
            return Parser.transferSyntax(named: UnsafeRawBufferPointer(rebasing: buffer[range]))
        }
        return meta.withValueBytes(.transferSyntaxUID) { raw, _ in Parser.transferSyntax(named: raw) } ?? nil
    }

    /// ``transferSyntax(in:)`` of the value's bytes.
    static func transferSyntax(named raw: UnsafeRawBufferPointer) -> TransferSyntax? {
        guard let base = raw.baseAddress else { return nil }
        var start = 0
        var end = memchr(base, 0x5C, raw.count).map { UnsafeRawPointer($0) - base } ?? raw.count   // a second value is ignored
        while end > start, raw[end - 1] == 0x00 || raw[end - 1] == 0x20 { end -= 1 }
        while start < end, raw[start] == 0x20 || raw[start] == 0x00 { start += 1 }
        guard start < end else { return nil }
        let uid = UnsafeRawBufferPointer(rebasing: raw[start..<end])
        return TransferSyntax.known(utf8: uid) ?? TransferSyntax(uid: String(decoding: uid, as: UTF8.self))
    }

    /// Guesses the encoding of a data set starting at `offset` from its
    /// first element: explicit VR bytes, a plausible group number.
    func sniffEncoding(at offset: Int) -> (explicit: Bool, bigEndian: Bool)? {
        guard offset + 8 <= buffer.count else { return nil }
        let groupLE = buffer.u16(at: offset, bigEndian: false)
        let groupBE = buffer.u16(at: offset, bigEndian: true)
        let vr = vrs.vr(buffer[offset + 4], buffer[offset + 5])
        let hasVR = vr != nil
        func plausible(_ group: UInt16) -> Bool { group <= 0x0030 || group == 0x7FE0 }
        if groupLE == 0, let vr {
            // Group 0000 reads the same in both byte orders: the value
            // length decides, little endian when both fit.
            func fits(bigEndian: Bool) -> Bool {
                let header = vr.hasLongLength ? 12 : 8
                guard offset + header <= buffer.count else { return !isComplete }
                let length = vr.hasLongLength ? buffer.u32(at: offset + 8, bigEndian: bigEndian) : UInt32(buffer.u16(at: offset + 6, bigEndian: bigEndian))
                return length == Parser.undefinedLength || !isComplete || Int(length) <= buffer.count - offset - header
            }
            return (true, !fits(bigEndian: false) && fits(bigEndian: true))
        }
        if plausible(groupLE) {
            if hasVR {
                return (true, false)
            }
            let length = buffer.u32(at: offset + 4, bigEndian: false)
            if length == Parser.undefinedLength || Int(length) <= (isComplete ? buffer.count - offset - 8 : Int(UInt32.max)) {
                return (false, false)
            }
            return nil
        }
        if plausible(groupBE) && hasVR {
            return (true, true)
        }
        return nil
    }

    // MARK: Data sets

    enum Stop {
        case end
        case itemDelimiter
        case pixelData(offset: Int)
    }

    /// Parses elements until `end` (defined length), an item delimiter
    /// (undefined-length item), the end of the buffer, or pixel data in
    /// header mode.
    mutating func parseElements(into dataset: inout Dataset, end: Int?, explicit: Bool, bigEndian: Bool, topLevel: Bool) throws(ParseFailure) -> Stop {
        var last = Parser.key(dataset.lastTag)
        while true {
            if explicit && !bigEndian { appendShortExplicitLERun(into: &dataset, end: end, after: &last) }
            if topLevel {
                topLevelElementStart = position
                topLevelWarningCount = warnings.count
            }
            if let end, position >= end { return .end }
            if position >= buffer.count {
                if !isComplete { throw .needMoreData }
                if end == nil && !topLevel {
                    throw failure(.truncated, "file ends inside an undefined-length item (no item delimiter)")
                }
                return .end
            }
            try need(4, for: "a tag")
            let tag = buffer.tag(at: position, bigEndian: bigEndian)
            if tag.group == 0xFFFE {
                if tag == .itemDelimitationItem {
                    try need(8, for: "an item delimiter", tag: tag)
                    position += 8
                    if end == nil && !topLevel { return .itemDelimiter }
                    warnings.append(DICOMError(.malformed, "stray item delimitation item skipped", path: path, offset: position - 8, tag: tag))
                    continue
                }
                if tag == .sequenceDelimitationItem && topLevel {
                    // Seen at the end of some files: trailing padding of a writer.
                    try need(8, for: "a sequence delimiter", tag: tag)
                    warnings.append(DICOMError(.malformed, "stray sequence delimitation item skipped", path: path, offset: position, tag: tag))
                    position += 8
                    continue
                }
                throw failure(.malformed, "unexpected \(tag == .item ? "item" : "delimiter") tag inside a data set", tag: tag)
            }
            if topLevel && tag == .pixelData {
                if options.stopBeforePixelData { return .pixelData(offset: position) }
                pixelDataPosition = position   // remembered even when reading it
            }
            // The same for implicit VR little endian (old discs are full of
            // it): the VR from the dictionary, never SQ or undefined length.
            if !explicit && !bigEndian && position + 8 <= buffer.count && Int64(tag.rawValue) > last {
                let length = buffer.u32(at: position + 4, bigEndian: false)
                let count = Int(length)
                let valueStart = position + 8
                let valueEnd = valueStart + count
                if length != Parser.undefinedLength, count & 1 == 0, valueEnd <= buffer.count, valueEnd <= end ?? valueEnd {
                    let vr = Parser.implicitVR(for: tag, in: dataset)
                    if vr != .SQ {
                        dataset.appendInOrder(tag: tag, vr: vr, offset: valueStart, count: count, of: data, bytes: buffer)
                        position = valueEnd
                        last = Int64(tag.rawValue)
                        continue
                    }
                }
            }
            try parseElement(into: &dataset, end: end, explicit: explicit, bigEndian: bigEndian)
            last = Parser.key(dataset.lastTag)
        }
    }

    /// The file meta information's fast path (the data set's is
    /// ``appendShortExplicitLERun(into:end:after:)``): explicit VR little
    /// endian, a 16-bit length VR (never SQ), even length, inside the buffer and the
    /// item, after the last tag (`last`, see ``key(_:)``). Appends the
    /// element and returns true; anything else, and every fault, is left to
    /// ``parseElement(into:end:explicit:bigEndian:)``.
    @inline(__always)
    mutating func appendShortExplicitLE(_ tag: Tag, into dataset: inout Dataset, end: Int?, after last: inout Int64) -> Bool {
        guard position + 8 <= buffer.count, Int64(tag.rawValue) > last,
              let vr = vrs.vr(buffer[position + 4], buffer[position + 5]), !vr.hasLongLength else { return false }
        let count = Int(buffer.u16(at: position + 6, bigEndian: false))
        let valueEnd = position + 8 + count
        guard count & 1 == 0, valueEnd <= buffer.count, valueEnd <= end ?? valueEnd else { return false }
        dataset.appendInOrder(tag: tag, vr: vr, offset: position + 8, count: count, of: data, bytes: buffer)
        position = valueEnd
        last = Int64(tag.rawValue)
        return true
    }

    /// ``appendShortExplicitLE(_:into:end:after:)`` over as many elements
    /// in a row as qualify, in one tight loop: no per-element bookkeeping,
    /// the entries appended straight to the parser's list. Stops, leaving
    /// `position` at it, before the first element that does not qualify or
    /// needs a look of its own (item tags, pixel data, Specific Character
    /// Set), which the caller's general path then reads.
    @inline(__always)
    mutating func appendShortExplicitLERun(into dataset: inout Dataset, end: Int?, after last: inout Int64) {
        let limit = min(buffer.count, end ?? Int.max)
        guard position + 8 <= limit, let base = buffer.baseAddress else { return }
        var at = position
        var key = last
        let vrs = self.vrs
        _ = dataset.withParsedEntries { entries in
            // Gathered on the stack and appended a chunk at a time: one
            // append (its uniqueness and capacity checks) per 32 elements.
            withUnsafeTemporaryAllocation(of: ParsedElements.Entry.self, capacity: Parser.runChunk) { chunk in
                let slots = chunk.baseAddress!
                var gathered = 0
                while at + 8 <= limit {
                    let word = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: at, as: UInt32.self))
                    let raw = (word << 16) | (word >> 16)   // group high, element low
                    // Item tags (group FFFE) are above every attribute; so are
                    // pixel data and what follows it; 0008,0005 changes how
                    // text decodes.
                    guard Int64(raw) > key, raw < Parser.firstSpecialTag, raw != Parser.specificCharacterSetTag,
                          let vr = vrs.vr(base.load(fromByteOffset: at + 4, as: UInt8.self), base.load(fromByteOffset: at + 5, as: UInt8.self)),
                          !vr.hasLongLength else { break }
                    let count = Int(UInt16(littleEndian: base.loadUnaligned(fromByteOffset: at + 6, as: UInt16.self)))
                    let valueEnd = at + 8 + count
                    guard count & 1 == 0, valueEnd <= limit else { break }
                    (slots + gathered).initialize(to: ParsedElements.Entry(tag: Tag(rawValue: raw), vr: vr, undefinedLength: false,
                                                                         isExtra: false, offset: at + 8, count: count))
                    gathered += 1
                    if gathered == Parser.runChunk {
                        entries.append(contentsOf: UnsafeBufferPointer(start: slots, count: gathered))
                        gathered = 0
                    }
                    at = valueEnd
                    key = Int64(raw)
                }
                if gathered > 0 { entries.append(contentsOf: UnsafeBufferPointer(start: slots, count: gathered)) }
            }
        }
        position = at
        last = key
    }

    /// Entries a run gathers before appending them.
    static let runChunk = 32

    /// Pixel data: it and every tag above it (items, delimiters) leave the run.
    static let firstSpecialTag: UInt32 = 0x7FE0_0010
    static let specificCharacterSetTag: UInt32 = 0x0008_0005

    /// A data set's last tag as a number every tag is greater than when
    /// there is none: the fast paths' order check is one comparison.
    @inline(__always)
    static func key(_ tag: Tag?) -> Int64 { tag.map { Int64($0.rawValue) } ?? noTag }
    static let noTag: Int64 = -1

    /// Set when the top-level pixel data element was reached in full mode.
    var pixelDataPosition: Int?

    /// The VR an implicit-VR element takes, from the dictionary and what the
    /// data set says so far (PS3.5 Annex A.1; "US or SS" follows Pixel
    /// Representation, "OB or OW" is OW).
    static func implicitVR(for tag: Tag, in dataset: borrowing Dataset) -> VR {
        if tag.isPrivate && !tag.isPrivateCreator { return .UN }
        guard let (vr, alternative) = DataDictionary.vrChoice(for: tag) else { return .UN }
        // Only US and OB head a list of alternatives ("US or SS", "OB or OW").
        guard vr == .US || vr == .OB, let alternative else { return vr }
        if alternative == .SS {
            let signed = dataset[.pixelRepresentation]?.bytes.flatMap { DICOMBinary.integers($0, vr: .US).first } == 1
            return signed ? .SS : .US
        }
        if alternative == .OW { return .OW }
        return vr
    }

    mutating func parseElement(into dataset: inout Dataset, end: Int?, explicit: Bool, bigEndian: Bool) throws(ParseFailure) {
        let start = position
        if position + 8 > buffer.count {
            // Name the element when its tag made it into the file.
            try need(8, for: "an element header", tag: position + 4 <= buffer.count ? buffer.tag(at: position, bigEndian: bigEndian) : nil)
        }
        let tag = buffer.tag(at: position, bigEndian: bigEndian)
        var vr: VR
        var length: UInt32
        if explicit {
            let b0 = buffer[position + 4], b1 = buffer[position + 5]
            if let parsed = vrs.vr(b0, b1) {
                vr = parsed
            } else {
                throw failure(.invalidVR, "invalid VR \"\(Parser.printable(b0))\(Parser.printable(b1))\" in explicit VR data", tag: tag)
            }
            if vr.hasLongLength {
                try need(12, for: "an element header", tag: tag)
                length = buffer.u32(at: position + 8, bigEndian: bigEndian)
                position += 12
            } else {
                length = UInt32(buffer.u16(at: position + 6, bigEndian: bigEndian))
                position += 8
            }
        } else {
            vr = Parser.implicitVR(for: tag, in: dataset)
            length = buffer.u32(at: position + 4, bigEndian: bigEndian)
            position += 8
        }
        let lastTag = dataset.lastTag
        if let last = lastTag, last >= tag {
            // Kept in tag order; a repeated tag keeps its last value.
            warnings.append(DICOMError(.malformed, last == tag ? "element repeated; the later value is kept" : "element out of ascending tag order (after \(last))", path: path, offset: start, tag: tag))
        }

        if length == Parser.undefinedLength {
            // Undefined-length pixel data is always encapsulated, whatever
            // VR an implicit-VR dictionary lookup (or a careless writer's
            // explicit UN) gave it.
            if tag != .pixelData && (vr == .SQ || vr == .UN || (!explicit && !tag.isPrivateCreator && vr != .OB && vr != .OW)) {
                // SQ, or UN of undefined length: a sequence whose items are
                // implicit VR little endian (CP-246).
                let itemsExplicit = vr == .SQ ? explicit : false
                let itemsBigEndian = vr == .SQ ? bigEndian : false
                let items = try parseSequence(end: nil, explicit: itemsExplicit, bigEndian: itemsBigEndian, tag: tag, inheriting: dataset.characterSetsForItems)
                dataset.appendInOrder(DataElement(tag: tag, vr: vr == .SQ || vr == .UN ? vr : .SQ, value: .sequence(items), hasUndefinedLength: true))
            } else {
                let fragments = try parseFragments(tag: tag, bigEndian: bigEndian)
                // Encapsulated values are OB (PS3.5 A.4); an implicit-VR
                // guess or an explicit UN would be written back wrongly.
                let fragmentsVR: VR = explicit && vr != .UN ? vr : .OB
                dataset.appendInOrder(DataElement(tag: tag, vr: fragmentsVR, value: .fragments(fragments), hasUndefinedLength: true))
            }
            return
        }

        let count = Int(length)
        if let end, position + count > end {
            throw failure(.lengthOutOfBounds, "value length \(count) runs \(position + count - end) bytes past the end of its item", at: start, tag: tag)
        }
        if position + count > buffer.count {
            if !isComplete { throw .needMoreData }
            throw failure(.lengthOutOfBounds, "value length \(count) runs \(position + count - buffer.count) bytes past the end of the file", at: start, tag: tag)
        }
        if count % 2 == 1 {
            warnings.append(DICOMError(.oddLength, "odd value length \(count)", path: path, offset: start, tag: tag))
        }

        if vr == .SQ {
            let items = try parseSequence(end: position + count, explicit: explicit, bigEndian: bigEndian, tag: tag, inheriting: dataset.characterSetsForItems)
            dataset.appendInOrder(DataElement(tag: tag, vr: .SQ, value: .sequence(items)))
            return
        }
        if bigEndian, let size = vr.fixedValueSize, size > 1 {
            dataset.appendInOrder(DataElement(tag: tag, vr: vr, bytes: Parser.swapped(slice(position, count), size: size)))
        } else if let last = lastTag, last >= tag {
            dataset.appendInOrder(DataElement(tag: tag, vr: vr, bytes: slice(position, count)))
        } else {
            dataset.appendInOrder(tag: tag, vr: vr, offset: position, count: count, of: data, bytes: buffer)
        }
        position += count
    }

    mutating func parseSequence(end: Int?, explicit: Bool, bigEndian: Bool, tag: Tag, inheriting inherited: CharacterSets) throws(ParseFailure) -> [Dataset] {
        depth += 1
        defer { depth -= 1 }
        if depth > options.maximumDepth {
            throw failure(.tooDeep, "sequences nested deeper than \(options.maximumDepth) levels", tag: tag)
        }
        let visitor = depth == 1 && itemVisitor?.tag == tag ? itemVisitor : nil
        var items: [Dataset] = []
        while true {
            if let end, position >= end { return items }
            try need(8, for: "a sequence item header", tag: tag)
            let itemTag = buffer.tag(at: position, bigEndian: bigEndian)
            let length = buffer.u32(at: position + 4, bigEndian: bigEndian)
            if itemTag == .sequenceDelimitationItem {
                position += 8
                if end != nil {
                    warnings.append(DICOMError(.malformed, "sequence delimiter inside a defined-length sequence", path: path, offset: position - 8, tag: tag))
                }
                return items
            }
            guard itemTag == .item else {
                throw failure(.malformed, "expected an item tag (FFFE,E000) in the sequence, found \(itemTag)", tag: tag)
            }
            var item = Dataset(parsing: data)
            item.reserveCapacity(8)   // spares the growth from 1 of small items
            item.itemOffset = position
            item.inheritCharacterSets(inherited)
            position += 8
            if length == Parser.undefinedLength {
                item.isUndefinedLengthItem = true
                let stop = try parseElements(into: &item, end: nil, explicit: explicit, bigEndian: bigEndian, topLevel: false)
                guard case .itemDelimiter = stop else {
                    throw failure(.truncated, "undefined-length item has no item delimiter", tag: tag)
                }
            } else {
                let itemEnd = position + Int(length)
                if let end, itemEnd > end {
                    throw failure(.lengthOutOfBounds, "item length \(length) runs past the end of its sequence", at: position - 8, tag: tag)
                }
                if itemEnd > buffer.count {
                    if !isComplete { throw .needMoreData }
                    throw failure(.lengthOutOfBounds, "item length \(length) runs \(itemEnd - buffer.count) bytes past the end of the file", at: position - 8, tag: tag)
                }
                _ = try parseElements(into: &item, end: itemEnd, explicit: explicit, bigEndian: bigEndian, topLevel: false)
                position = itemEnd
            }
            if let visitor {
                visitor.visit(consume item)
                continue
            }
            // Room for a few at the first: most sequences hold one to
            // four items, and growing 1 → 2 → 4 allocates three times.
            if items.isEmpty { items.reserveCapacity(4) }
            items.append(consume item)
        }
    }

    mutating func parseFragments(tag: Tag, bigEndian: Bool) throws(ParseFailure) -> EncapsulatedPixelData {
        var offsetTable: Data?
        var fragments: [Data] = []
        while true {
            try need(8, for: "an encapsulated pixel data item", tag: tag)
            let itemTag = buffer.tag(at: position, bigEndian: bigEndian)
            let length = Int(buffer.u32(at: position + 4, bigEndian: bigEndian))
            if itemTag == .sequenceDelimitationItem {
                position += 8
                return EncapsulatedPixelData(offsetTable: offsetTable ?? Data(), fragments: fragments)
            }
            guard itemTag == .item else {
                throw failure(.malformed, "expected a fragment item (FFFE,E000) in encapsulated data, found \(itemTag)", tag: tag)
            }
            guard length != Int(Parser.undefinedLength) else {
                throw failure(.malformed, "fragment item with undefined length", tag: tag)
            }
            position += 8
            if position + length > buffer.count {
                if !isComplete { throw .needMoreData }
                throw failure(.lengthOutOfBounds, "fragment length \(length) runs \(position + length - buffer.count) bytes past the end of the file", at: position - 8, tag: tag)
            }
            let value = slice(position, length)
            position += length
            if offsetTable == nil { offsetTable = value } else { fragments.append(value) }
        }
    }

    // MARK: Helpers

    static func swapped(_ data: Data, size: Int) -> Data {
        var bytes = [UInt8](data)
        var i = 0
        while i + size <= bytes.count {
            bytes[i..<(i + size)].reverse()
            i += size
        }
        return Data(bytes)
    }

    static func printable(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? String(UnicodeScalar(byte)) : "\\x" + String(byte, radix: 16)
    }
}

/// The parser's primitive reads, on the buffer itself: calling them does not
/// involve (or copy) the parser.
extension UnsafeRawBufferPointer {
    @inline(__always)
    func u16(at offset: Int, bigEndian: Bool) -> UInt16 {
        let v = loadUnaligned(fromByteOffset: offset, as: UInt16.self)
        return bigEndian ? UInt16(bigEndian: v) : UInt16(littleEndian: v)
    }

    @inline(__always)
    func u32(at offset: Int, bigEndian: Bool) -> UInt32 {
        let v = loadUnaligned(fromByteOffset: offset, as: UInt32.self)
        return bigEndian ? UInt32(bigEndian: v) : UInt32(littleEndian: v)
    }

    @inline(__always)
    func tag(at offset: Int, bigEndian: Bool) -> Tag {
        Tag(u16(at: offset, bigEndian: bigEndian), u16(at: offset + 2, bigEndian: bigEndian))
    }
}
