@preconcurrency import CLibXML2
import DICOM
import Foundation

/// The Native DICOM Model (PS3.19 Annex A) written with libxml2:
///
/// ```xml
/// <NativeDicomModel xml:space="preserve">
///   <DicomAttribute tag="00100010" vr="PN" keyword="PatientName">
///     <PersonName number="1">
///       <Alphabetic><FamilyName>Yamada</FamilyName><GivenName>Tarou</GivenName></Alphabetic>
///       ...
///     </PersonName>
///   </DicomAttribute>
///   <DicomAttribute tag="00081140" vr="SQ" keyword="ReferencedImageSequence">
///     <Item number="1">...</Item>
///   </DicomAttribute>
///   <DicomAttribute tag="7FE00010" vr="OB" keyword="PixelData"><InlineBinary>...</InlineBinary></DicomAttribute>
/// </NativeDicomModel>
/// ```
///
/// Values follow the same rules as ``DICOMJSON`` (decoded with the
/// character set, explicit UN of known tags given their dictionary VR,
/// binary values and encapsulated pixel data as base64 `InlineBinary`). An
/// empty value inside a multi-valued attribute is an empty `<Value>` that
/// keeps its number. Private data elements carry `privateCreator`, no
/// keyword, and a tag without the block number (`gggg00ee`), as DCMTK's
/// dcm2xml and dcm4che write them; a private element without a creator
/// keeps its full tag. Group lengths (gggg,0000) are left out, as A.1
/// requires. Characters XML 1.0 cannot carry (C0 controls other than tab,
/// line feed and carriage return) become U+FFFD.
public enum NativeDICOMModel {
    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The data set as a UTF-8 XML document (declaration included).
    public static func xml(for dataset: Dataset) throws -> String {
        try xml(for: dataset, comment: nil)
    }

    /// A file's data set as a UTF-8 XML document; with `includeMeta` the
    /// file meta information (group 0002) comes first. `comment`, when
    /// given, is an XML comment before the root element (the file's path
    /// when several documents are printed one after another).
    public static func xml(for file: DICOMFile, includeMeta: Bool = false, comment: String? = nil) throws -> String {
        var dataset = file.dataset.replacingUNWithKnownVR(sourceIsBigEndian: file.transferSyntax.isBigEndian)
        if includeMeta {
            for element in file.meta.elements { dataset.set(element) }
        }
        return try xml(for: dataset, comment: comment, resolveUN: false)
    }

    /// The data set as a UTF-8 XML document; `comment`, when given, is an
    /// XML comment before the root element.
    public static func xml(for dataset: Dataset, comment: String?) throws -> String {
        try xml(for: dataset, comment: comment, resolveUN: true)
    }

    static func xml(for dataset: Dataset, comment: String?, resolveUN: Bool) throws -> String {
        guard let doc = xmlNewDoc(xmlText("1.0")) else { throw Failure(description: "libxml2 cannot create a document") }
        defer { xmlFreeDoc(doc) }
        guard let root = xmlNewNode(nil, xmlText("NativeDicomModel")) else { throw Failure(description: "libxml2 cannot create an element") }
        xmlDocSetRootElement(doc, root)
        xmlNodeSetSpacePreserve(root, 1)
        if let comment {
            // "--" may not appear inside a comment.
            let safe = sanitized(comment).replacingOccurrences(of: "--", with: "- -")
            if let node = xmlNewDocComment(doc, xmlText(" \(safe) ")) {
                xmlAddPrevSibling(root, node)
            }
        }
        var writer = Writer()
        writer.add(resolveUN ? dataset.replacingUNWithKnownVR() : dataset, to: root)

        var memory: UnsafeMutablePointer<xmlChar>?
        var size: Int32 = 0
        xmlDocDumpFormatMemoryEnc(doc, &memory, &size, "UTF-8", 1)
        guard let memory else { throw Failure(description: "libxml2 cannot serialise the document") }
        defer { xmlFree(memory) }
        return String(decoding: UnsafeBufferPointer(start: memory, count: Int(size)), as: UTF8.self)
    }

    /// A NUL-terminated UTF-8 copy for libxml2's `const xmlChar *`.
    static func xmlText(_ text: String) -> [xmlChar] {
        Array(text.utf8) + [0]
    }

    /// Replaces characters XML 1.0 does not allow with U+FFFD (also for
    /// the other XML discport writes, such as XDM metadata).
    public static func sanitized(_ text: String) -> String {
        func allowed(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x09, 0x0A, 0x0D: return true
            case 0x00..<0x20, 0xFFFE, 0xFFFF: return false
            default: return true
            }
        }
        guard !text.unicodeScalars.allSatisfy(allowed) else { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.unicodeScalars { scalars.append(allowed(scalar) ? scalar : "\u{FFFD}") }
        return String(scalars)
    }

    struct Writer {
        mutating func add(_ dataset: Dataset, to parent: xmlNodePtr) {
            // "Group Length (gggg,0000) attributes shall not be included" (PS3.19 A.1).
            for element in dataset.elements where !element.tag.isGroupLength {
                add(element, of: dataset, to: parent)
            }
        }

        mutating func add(_ element: DataElement, of dataset: Dataset, to parent: xmlNodePtr) {
            guard let node = xmlNewChild(parent, nil, xmlText("DicomAttribute"), nil) else { return }
            let tag = element.tag
            let vr: VR = element.items != nil ? .SQ : element.vr
            if tag.isPrivate, !tag.isPrivateCreator, tag.element >= 0x1000,
               let creator = dataset.firstString(Tag(tag.group, tag.element >> 8)) {
                // A private element is named by its creator and its offset in
                // the block, not by the block the writer happened to reserve:
                // (0029,1108) of "SIEMENS MEDCOM OOG" is tag="00290008".
                setAttribute(node, "tag", Tag(tag.group, tag.element & 0x00FF).jsonKey)
                setAttribute(node, "vr", vr.rawValue)
                setAttribute(node, "privateCreator", creator)
            } else {
                setAttribute(node, "tag", tag.jsonKey)
                setAttribute(node, "vr", vr.rawValue)
                if !tag.isPrivate, let keyword = DataDictionary.entry(for: tag)?.keyword, !keyword.isEmpty {
                    setAttribute(node, "keyword", keyword)
                }
            }

            switch element.value {
            case .sequence(let items):
                for (index, item) in items.enumerated() {
                    guard let itemNode = xmlNewChild(node, nil, xmlText("Item"), nil) else { continue }
                    setAttribute(itemNode, "number", String(index + 1))
                    add(item, to: itemNode)
                }
            case .fragments(let encapsulated):
                textChild(node, "InlineBinary", encapsulated.encodedItems.base64EncodedString())
            case .bytes(let data):
                if element.vr.isBulkBinary {
                    if !data.isEmpty { textChild(node, "InlineBinary", data.base64EncodedString()) }
                    return
                }
                let values = dataset.modelValues(of: element)
                for (index, value) in values.enumerated() {
                    let number = String(index + 1)
                    switch value {
                    case .string(let text), .number(let text):
                        if let child = textChild(node, "Value", text) { setAttribute(child, "number", number) }
                    case .null:
                        // An empty value keeps its number; a PN's is a PersonName
                        // (PS3.19 allows no Value beside PersonName elements).
                        let kind = element.vr == .PN ? "PersonName" : "Value"
                        if let child = xmlNewChild(node, nil, xmlText(kind), nil) { setAttribute(child, "number", number) }
                    case .personName(let personName):
                        // "^^^^" alone: a name without any component is no value.
                        if values.count == 1, personName.components.allSatisfy(\.isEmpty) { continue }
                        guard let name = xmlNewChild(node, nil, xmlText("PersonName"), nil) else { continue }
                        setAttribute(name, "number", number)
                        for group in PersonName.Group.allCases {
                            let components = personName[components: group]
                            guard !components.isEmpty,
                                  let groupNode = xmlNewChild(name, nil, xmlText(Writer.groupNames[group.rawValue]), nil) else { continue }
                            let named = [("FamilyName", components.family), ("GivenName", components.given),
                                         ("MiddleName", components.middle), ("NamePrefix", components.prefix),
                                         ("NameSuffix", components.suffix)]
                            for (componentName, component) in named where !component.isEmpty {
                                textChild(groupNode, componentName, component)
                            }
                        }
                    }
                }
            }
        }

        static let groupNames = ["Alphabetic", "Ideographic", "Phonetic"]

        @discardableResult
        func textChild(_ parent: xmlNodePtr, _ name: String, _ text: String) -> xmlNodePtr? {
            // xmlNewTextChild escapes &, < and >.
            xmlNewTextChild(parent, nil, xmlText(name), xmlText(sanitized(text)))
        }

        func setAttribute(_ node: xmlNodePtr, _ name: String, _ value: String) {
            xmlSetProp(node, xmlText(name), xmlText(sanitized(value)))
        }
    }
}
