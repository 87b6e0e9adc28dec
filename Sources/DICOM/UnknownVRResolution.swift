import Foundation

// Explicit UN elements whose tag the dictionary knows (PS3.5 §6.2.2): a
// writer that did not know the attribute wrote its bytes as UN. Readers that
// know it (pydicom's `config.replace_un_with_known_vr`, DCMTK's
// `dcmEnableUnknownVRConversion`) give it the dictionary VR back; a UN value
// holding a sequence is re-read as implicit VR little endian (CP-246).

extension Dataset {
    /// A copy in which every explicit UN element whose (non-private) tag the
    /// data dictionary knows has the dictionary's VR again, recursively;
    /// private creators (gggg,0010-00FF) become LO.
    ///
    /// * A UN value whose dictionary VR is SQ is re-read as an implicit VR
    ///   little endian sequence (PS3.5 §6.2.2, CP-246); when those bytes do
    ///   not parse, the element stays UN.
    /// * An ambiguous dictionary VR ("US or SS", "OB or OW", "US or OW") is
    ///   resolved the way PS3.5 Annex A and PS3.3 describe it: Pixel
    ///   Representation (of this data set or the nearest enclosing one),
    ///   Bits Allocated, Waveform Bits Allocated, LUT Descriptor.
    /// * A value too long for the dictionary VR's 16-bit length field (more
    ///   than 65534 bytes) stays UN: it could not be written back otherwise.
    /// * `sourceIsBigEndian`: the data set was read from explicit VR big
    ///   endian, where a UN value keeps the byte order it was written with;
    ///   numbers are swapped to the little-endian order ``DataElement``
    ///   values use.
    ///
    /// Undefined-length UN elements are sequences already (the reader reads
    /// them as implicit VR items); they are left as they are.
    public func replacingUNWithKnownVR(sourceIsBigEndian: Bool = false) -> Dataset {
        var context = UNResolutionContext(bigEndian: sourceIsBigEndian)
        return context.resolve(self)
    }
}

struct UNResolutionContext {
    let bigEndian: Bool
    /// Pixel Representation of the enclosing data sets, nearest last.
    var pixelRepresentations: [Int] = []

    mutating func resolve(_ dataset: Dataset) -> Dataset {
        guard dataset.elements.contains(where: { $0.vr == .UN || $0.vr == .SQ }) else { return dataset }
        var result = dataset
        let ownPixelRepresentation = dataset.integer(.pixelRepresentation)
        if let ownPixelRepresentation { pixelRepresentations.append(ownPixelRepresentation) }
        defer { if ownPixelRepresentation != nil { pixelRepresentations.removeLast() } }

        for element in dataset.elements {
            switch element.value {
            case .sequence(let items):
                let resolved = items.map { resolve($0) }
                var copy = element
                copy.value = .sequence(resolved)
                result.set(copy)
            case .bytes(let data) where element.vr == .UN:
                if let replaced = replacement(for: element, data: data, in: dataset) {
                    result.set(replaced)
                }
            default:
                break
            }
        }
        return result
    }

    private mutating func replacement(for element: DataElement, data: Data, in dataset: Dataset) -> DataElement? {
        let tag = element.tag
        if tag.isPrivateCreator {
            // A private creator is LO whatever its writer knew (PS3.5 §7.8.1).
            return data.count <= 0xFFFE ? DataElement(tag: tag, vr: .LO, bytes: data) : nil
        }
        guard !tag.isPrivate, !tag.isGroupLength, let entry = DataDictionary.entry(for: tag) else { return nil }
        let vr = resolvedVR(entry: entry, tag: tag, data: data, in: dataset)
        guard vr != .UN else { return nil }
        if vr == .SQ {
            guard let items = UNResolutionContext.implicitSequence(data, tag: tag, parent: dataset) else { return nil }
            let resolved = items.map { resolve($0) }
            return DataElement(tag: tag, vr: .SQ, value: .sequence(resolved))
        }
        if !vr.hasLongLength && data.count > 0xFFFE { return nil }
        var value = data
        if bigEndian, let size = vr.fixedValueSize, size > 1 {
            value = Parser.swapped(data, size: size)
        }
        return DataElement(tag: tag, vr: vr, bytes: value)
    }

    private func resolvedVR(entry: DictionaryEntry, tag: Tag, data: Data, in dataset: Dataset) -> VR {
        let choices = Set([entry.vr] + entry.alternateVRs)
        if choices.count == 1 { return entry.vr }
        if choices.contains(.US) && choices.contains(.SS) {
            return signedPixels(in: dataset) ? .SS : .US
        }
        if choices.contains(.US) && choices.contains(.OW) {
            // (0028,3006) LUT Data: US only when LUT Descriptor says one entry.
            return dataset.integers(.init(0x0028, 0x3002)).first == 1 ? .US : .OW
        }
        if choices.contains(.OB) && choices.contains(.OW) {
            if tag.group & 0xFF00 == 0x6000 { return .OW }   // Overlay Data: OW (PS3.5 §8.1.2)
            let bitsTag: Tag = tag == .pixelData ? Tag(0x0028, 0x0100) : Tag(0x5400, 0x1004)
            return (dataset.integer(bitsTag) ?? 16) > 8 ? .OW : .OB
        }
        return entry.vr
    }

    /// Pixel Representation 1 in this data set or the nearest enclosing one.
    /// Without any, signed only when the data set has pixel data (the
    /// ambiguous attributes describe it; without it they are unused).
    private func signedPixels(in dataset: Dataset) -> Bool {
        if let own = dataset.integer(.pixelRepresentation) { return own == 1 }
        if let inherited = pixelRepresentations.last { return inherited == 1 }
        return dataset.contains(.pixelData)
    }

    /// The value of a defined-length UN read as the items of an implicit VR
    /// little endian sequence; nil when the bytes are not that.
    static func implicitSequence(_ data: Data, tag: Tag, parent: Dataset) -> [Dataset]? {
        if data.isEmpty { return [] }
        let owned = Data(data)   // contiguous, indices from 0
        let outcome = owned.withUnsafeBytes { (raw: UnsafeRawBufferPointer) -> [Dataset]? in
            var parser = Parser(buffer: raw, data: owned, isComplete: true, options: .full, path: nil)
            do {
                let items = try parser.parseSequence(end: owned.count, explicit: false, bigEndian: false, tag: tag, inheriting: parent.characterSetsForItems)
                return parser.position == owned.count ? items : nil
            } catch {
                return nil
            }
        }
        return outcome
    }
}
