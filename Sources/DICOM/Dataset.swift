import Foundation

/// An ordered collection of data elements: a DICOM data set or sequence item.
///
/// Elements are kept in ascending tag order. Values stay encoded; the
/// accessors decode strings with the data set's Specific Character Set
/// (inherited from the enclosing data set for sequence items).
public struct Dataset: Sendable {
    /// The elements in ascending tag order.
    public private(set) var elements: [DataElement]
    /// For a sequence item: it was encoded with undefined length.
    public var isUndefinedLengthItem: Bool = false
    /// For a sequence item read from a file: byte offset of its item tag
    /// from the start of the file (what DICOMDIR record offsets point at).
    public var itemOffset: Int?
    /// The character set of the enclosing data set, for items that do not
    /// carry their own (0008,0005).
    public var inheritedCharacterSet: SpecificCharacterSet = .default
    /// Parsed from this data set's own (0008,0005), kept in step by every mutation.
    private var ownCharacterSet: SpecificCharacterSet?

    public init() { self.elements = [] }

    /// Creates a data set from elements in any order; a later element with
    /// the same tag replaces an earlier one.
    public init(_ elements: [DataElement]) {
        self.elements = []
        self.elements.reserveCapacity(elements.count)
        for element in elements { self.set(element) }
    }

    /// Room for `count` elements without regrowing (the parser's hint).
    mutating func reserveCapacity(_ count: Int) { elements.reserveCapacity(count) }

    /// Appends elements already known to be in strictly ascending order
    /// (the parser's fast path); falls back to sorted insertion otherwise.
    mutating func appendInOrder(_ element: consuming DataElement) {
        let tag = element.tag
        if !elements.isEmpty, elements[elements.count - 1].tag >= tag {
            set(element)
        } else {
            elements.append(element)
            if tag == .specificCharacterSet { updateCharacterSet() }
        }
    }

    public var count: Int { elements.count }
    public var isEmpty: Bool { elements.isEmpty }
    public var tags: [Tag] { elements.map(\.tag) }

    private func index(of tag: Tag) -> (found: Bool, index: Int) {
        var low = 0, high = elements.count
        while low < high {
            let mid = (low + high) / 2
            let t = elements[mid].tag
            if t == tag { return (true, mid) }
            if t < tag { low = mid + 1 } else { high = mid }
        }
        return (false, low)
    }

    public subscript(tag: Tag) -> DataElement? {
        let (found, i) = index(of: tag)
        return found ? elements[i] : nil
    }

    public func contains(_ tag: Tag) -> Bool { index(of: tag).found }

    /// Inserts or replaces the element with the same tag.
    public mutating func set(_ element: DataElement) {
        let (found, i) = index(of: element.tag)
        if found { elements[i] = element } else { elements.insert(element, at: i) }
        if element.tag == .specificCharacterSet { updateCharacterSet() }
    }

    @discardableResult
    public mutating func remove(_ tag: Tag) -> DataElement? {
        let (found, i) = index(of: tag)
        guard found else { return nil }
        defer { if tag == .specificCharacterSet { updateCharacterSet() } }
        return elements.remove(at: i)
    }

    /// Removes every element for which `predicate` is true.
    public mutating func removeAll(where predicate: (DataElement) -> Bool) {
        elements.removeAll(where: predicate)
        updateCharacterSet()
    }

    /// The character set that applies to this data set's text values.
    public var characterSet: SpecificCharacterSet { ownCharacterSet ?? inheritedCharacterSet }

    private mutating func updateCharacterSet() {
        ownCharacterSet = self[.specificCharacterSet]?.bytes.map { bytes in
            Dataset.commonCharacterSets[bytes] ?? SpecificCharacterSet(lenientTerms: DICOMText.splitDefaultRepertoire(bytes))
        }
    }

    /// The (0008,0005) values most files carry, parsed once: every header of
    /// a disc would otherwise parse the same terms again.
    private static let commonCharacterSets: [Data: SpecificCharacterSet] = {
        let values = ["ISO_IR 100", "ISO_IR 192", "ISO_IR 6", "\\ISO 2022 IR 87", "ISO 2022 IR 6\\ISO 2022 IR 87",
                      "ISO 2022 IR 13\\ISO 2022 IR 87", "ISO_IR 13", "\\ISO 2022 IR 149", "GB18030", "ISO_IR 101", "ISO_IR 144"]
        var table: [Data: SpecificCharacterSet] = [:]
        for value in values {
            var bytes = Array(value.utf8)
            let set = SpecificCharacterSet(lenientTerms: DICOMText.splitDefaultRepertoire(Data(bytes)))
            table[Data(bytes)] = set
            if bytes.count % 2 == 1 { bytes.append(0x20); table[Data(bytes)] = set }
        }
        return table
    }()
}

// MARK: - Reading values

extension Dataset {
    /// The decoded text of a string element (all values, `\`-separated),
    /// with trailing padding removed. Undecodable bytes become U+FFFD; use
    /// ``decodedText(_:)`` to learn about them.
    public func string(_ tag: Tag) -> String? {
        guard let element = self[tag], let data = element.bytes else { return nil }
        return DICOMText.decode(data, vr: element.vr, characterSet: characterSet).text
    }

    /// The decoded text and any character-set problems found.
    public func decodedText(_ tag: Tag) -> (text: String, problems: [CharacterSetError])? {
        guard let element = self[tag], let data = element.bytes else { return nil }
        return DICOMText.decode(data, vr: element.vr, characterSet: characterSet)
    }

    /// The values of a string element, split at `\` (except for LT, ST, UT,
    /// UR), each trimmed of padding as PS3.5 allows for its VR.
    public func strings(_ tag: Tag) -> [String] {
        guard let element = self[tag], let data = element.bytes else { return [] }
        let text = DICOMText.decode(data, vr: element.vr, characterSet: characterSet).text
        return DICOMText.values(of: text, vr: element.vr)
    }

    /// The first value of a string element, trimmed; nil when absent or empty.
    public func firstString(_ tag: Tag) -> String? {
        strings(tag).first.flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Integer values of US, SS, UL, SL, UV, SV, IS (and AT as raw tags).
    public func integers(_ tag: Tag) -> [Int] {
        guard let element = self[tag], let data = element.bytes else { return [] }
        return DICOMBinary.integers(data, vr: element.vr)
    }

    public func integer(_ tag: Tag) -> Int? { integers(tag).first }

    /// Floating-point values of FL, FD, OF, OD, DS.
    public func doubles(_ tag: Tag) -> [Double] {
        guard let element = self[tag], let data = element.bytes else { return [] }
        return DICOMBinary.doubles(data, vr: element.vr)
    }

    /// The items of a sequence element; empty when absent.
    public func items(_ tag: Tag) -> [Dataset] { self[tag]?.items ?? [] }
}

// MARK: - Writing values

extension Dataset {
    /// Sets a string element, encoding `text` in this data set's character
    /// set. Pads to even length with the VR's padding byte.
    public mutating func setString(_ text: String, vr: VR, for tag: Tag) throws(CharacterSetError) {
        var bytes = vr.usesSpecificCharacterSet ? try characterSet.encode(text, vr: vr) : Array(text.utf8)
        if bytes.count % 2 == 1 { bytes.append(vr.paddingByte) }
        set(DataElement(tag: tag, vr: vr, bytes: Data(bytes)))
    }

    /// Sets a multi-valued string element.
    public mutating func setStrings(_ values: [String], vr: VR, for tag: Tag) throws(CharacterSetError) {
        try setString(values.joined(separator: "\\"), vr: vr, for: tag)
    }

    /// Sets a US/SS/UL/SL/... element from integers (little endian).
    public mutating func setIntegers(_ values: [Int], vr: VR, for tag: Tag) {
        set(DataElement(tag: tag, vr: vr, bytes: DICOMBinary.encode(integers: values, vr: vr)))
    }

    public mutating func setSequence(_ items: [Dataset], for tag: Tag, undefinedLength: Bool = true) {
        set(DataElement(tag: tag, vr: .SQ, value: .sequence(items), hasUndefinedLength: undefinedLength))
    }
}
