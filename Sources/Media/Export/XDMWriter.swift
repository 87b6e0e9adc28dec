@preconcurrency import CLibXML2
import Crypto
import DICOM
import DICOMXML
import Foundation

/// What an IHE XDM submission set on a medium describes (IHE ITI TF-1 §16,
/// ITI TF-2b §3.32 Distribute Document Set on Media, ITI TF-3 §4 metadata):
/// the patient, the creating institution, and the DICOM instances of the
/// file-set, each a DocumentEntry whose URI points at its file.
public struct XDMSubmission: Sendable {
    public struct Patient: Sendable, Hashable {
        /// Patient ID (0010,0020).
        public var id: String
        /// The OID of the assigning authority (config.toml
        /// `[institution] assigning_authority`): the CX gets `&OID&ISO`.
        public var assigningAuthority: String?
        /// Issuer of Patient ID (0010,0021), a namespace name; used when no OID is known.
        public var issuer: String?
        /// The DICOM PN form (`Yamada^Tarou=山田^太郎=やまだ^たろう`).
        public var name: String?
        /// DA (`YYYYMMDD`).
        public var birthDate: String?
        /// `M`, `F`, `O`.
        public var sex: String?
        public init(id: String, assigningAuthority: String? = nil, issuer: String? = nil, name: String? = nil,
                    birthDate: String? = nil, sex: String? = nil) {
            self.id = id; self.assigningAuthority = assigningAuthority; self.issuer = issuer
            self.name = name; self.birthDate = birthDate; self.sex = sex
        }
    }

    public struct Document: Sendable, Hashable {
        /// The file on the medium, relative to its root (`DICOM/PAT00001/…/IMG00001`).
        public var path: String
        public var sopInstanceUID: String
        public var sopClassUID: String
        public var modality: String?
        /// Study Date (DA): the DocumentEntry's serviceStartTime.
        public var serviceDate: String?
        public var title: String
        public init(path: String, sopInstanceUID: String, sopClassUID: String, modality: String? = nil,
                    serviceDate: String? = nil, title: String) {
            self.path = path; self.sopInstanceUID = sopInstanceUID; self.sopClassUID = sopClassUID
            self.modality = modality; self.serviceDate = serviceDate; self.title = title
        }
    }

    public var patient: Patient
    public var documents: [Document]
    /// The authorInstitution of the submission set.
    public var institution: String
    /// BCP 47 (`ja-JP`, `en-US`): each DocumentEntry's languageCode.
    public var languageCode: String
    public var title: String

    public init(patient: Patient, documents: [Document], institution: String, languageCode: String, title: String) {
        self.patient = patient; self.documents = documents; self.institution = institution
        self.languageCode = languageCode; self.title = title
    }
}

/// One DocumentEntry as written: its URI (relative to METADATA.XML), the
/// size and SHA-1 of the file it points at.
public struct XDMDocumentReference: Sendable, Hashable {
    public var uri: String
    public var size: Int
    public var sha1: String
}

/// Writes `IHE_XDM/SUBSET01/METADATA.XML`: an ebRS 3.0 SubmitObjectsRequest
/// with one SubmissionSet (RegistryPackage) and one DocumentEntry
/// (ExtrinsicObject, `application/dicom`) per DICOM instance of the
/// file-set, joined by HasMember associations; written with libxml2's
/// xmlTextWriter.
///
/// The instances stay where PS3.11/PS3.12 put them (the DICOMDIR and the
/// `DICOM/` tree at the root, as PS3.12 Annex V wants a zip): each URI is
/// the file's path relative to the subset folder (`../../DICOM/…`), with its
/// `size` and SHA-1 `hash` (ITI TF-3 §4.2.3.2). The DocumentEntry
/// uniqueId is the SOP Instance UID, its formatCode the SOP Class UID
/// (scheme 1.2.840.10008.2.6.1, the DICOM UID registry) and its
/// eventCodeList the modality (DCM, 1.2.840.10008.2.16.4). The patientId
/// external identifiers are written only when the assigning authority's
/// OID is known (config.toml); sourcePatientId and sourcePatientInfo always.
public enum XDMWriter {
    /// `IHE_XDM/SUBSET01`: one folder per submission set (one per patient).
    public static func subsetFolder(_ subset: Int) -> String { String(format: "IHE_XDM/SUBSET%02d", subset) }
    public static func metadataPath(subset: Int) -> String { subsetFolder(subset) + "/METADATA.XML" }

    public static let lcmNamespace = "urn:oasis:names:tc:ebxml-regrep:xsd:lcm:3.0"
    public static let rimNamespace = "urn:oasis:names:tc:ebxml-regrep:xsd:rim:3.0"

    // ITI TF-3 Table 4.2.5-1 (classification schemes, identification schemes, object types).
    enum Scheme {
        static let stableDocumentEntry = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
        static let submissionSetNode = "urn:uuid:a54d6aa5-d40d-43f9-88c5-b4633d873bdd"
        static let submissionSetAuthor = "urn:uuid:a7058bb9-b4e4-4307-ba5b-e3f0ab85e12d"
        static let submissionSetUniqueID = "urn:uuid:96fdda7c-d067-4183-912e-bf5ee74998a8"
        static let submissionSetSourceID = "urn:uuid:554ac39e-e3fe-47fe-b233-965d2a147832"
        static let submissionSetPatientID = "urn:uuid:6b5aea1a-874d-4603-a4bc-96a0a7b38446"
        static let documentFormatCode = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
        static let documentEventCode = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
        static let documentUniqueID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"
        static let documentPatientID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
        static let hasMember = "urn:oasis:names:tc:ebxml-regrep:AssociationType:HasMember"
        static let approved = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
        static let classification = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Classification"
        static let externalIdentifier = "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:ExternalIdentifier"
        static let dicomUIDRegistry = "1.2.840.10008.2.6.1"
        static let dcm = "1.2.840.10008.2.16.4"
    }

    /// The URI of a file on the medium as METADATA.XML names it.
    public static func uri(forMediumPath path: String) -> String { "../../" + path }

    /// Writes the METADATA.XML of submission set `subset` into the medium
    /// folder `root` (atomically), hashing every document's file there.
    /// Throws when a file is missing or unreadable, or libxml2 fails;
    /// nothing is written then.
    @discardableResult
    public static func write(_ submission: XDMSubmission, subset: Int = 1, root: String, now: Date = Date()) throws(MediaError) -> [XDMDocumentReference] {
        let folder = subsetFolder(subset)
        let path = metadataPath(subset: subset)
        var references: [XDMDocumentReference] = []
        references.reserveCapacity(submission.documents.count)
        for document in submission.documents {
            let (size, sha1) = try fileDigest(root + "/" + document.path)
            references.append(XDMDocumentReference(uri: uri(forMediumPath: document.path), size: size, sha1: sha1))
        }
        let xml = try metadata(submission, references: references, now: now)
        do {
            try FileManager.default.createDirectory(atPath: root + "/" + folder, withIntermediateDirectories: true)
            try AtomicFile.write(xml, to: root + "/" + path)
        } catch let error as DICOMError {
            throw MediaError(.unreadable, "cannot write \(path): \(error.message)", path: root)
        } catch {
            throw MediaError(.unreadable, "cannot create \(folder): \(error.localizedDescription)", path: root)
        }
        return references
    }

    /// Size and SHA-1 (lowercase hex, as XDS `hash`) of a file.
    static func fileDigest(_ path: String) throws(MediaError) -> (Int, String) {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw MediaError(.notFound, "the XDM document is not in the file-set", path: path)
        }
        defer { try? handle.close() }
        var hasher = Insecure.SHA1()
        var size = 0
        do {
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty {
                hasher.update(data: chunk)
                size += chunk.count
            }
        } catch {
            throw MediaError(.unreadable, "cannot read: \(error.localizedDescription)", path: path)
        }
        return (size, DICOMBinary.hex(hasher.finalize()))
    }

    /// The SubmitObjectsRequest document (UTF-8).
    static func metadata(_ submission: XDMSubmission, references: [XDMDocumentReference], now: Date) throws(MediaError) -> Data {
        guard let buffer = xmlBufferCreate() else { throw MediaError(.unreadable, "libxml2: out of memory", path: "METADATA.XML") }
        defer { xmlBufferFree(buffer) }
        guard let writer = xmlNewTextWriterMemory(buffer, 0) else {
            throw MediaError(.unreadable, "libxml2: cannot create a writer", path: "METADATA.XML")
        }
        var out = XMLOut(writer: writer)
        defer { xmlFreeTextWriter(writer) }
        xmlTextWriterSetIndent(writer, 1)
        xmlTextWriterSetIndentString(writer, "  ")
        out.check(xmlTextWriterStartDocument(writer, "1.0", "UTF-8", nil))

        let time = xdsTime(now)
        let patient = submission.patient
        let cx = patientCX(patient)
        let affinityID = patient.assigningAuthority.map { _ in cx }
        let setID = entryUUID()

        out.start("lcm", "SubmitObjectsRequest", namespace: lcmNamespace)
        out.start("rim", "RegistryObjectList", namespace: rimNamespace)

        // The submission set.
        out.start("rim", "RegistryPackage", attributes: ["id": setID, "objectType": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:RegistryPackage"])
        out.slot("submissionTime", [time])
        out.localized("Name", submission.title)
        out.classification(scheme: Scheme.submissionSetAuthor, object: setID, nodeRepresentation: "") { out in
            out.slot("authorInstitution", [submission.institution.isEmpty ? "discport" : hl7Escape(submission.institution)])
        }
        out.start("rim", "Classification", attributes: [
            "id": entryUUID(), "objectType": Scheme.classification,
            "classifiedObject": setID, "classificationNode": Scheme.submissionSetNode])
        out.end()
        out.externalIdentifier(scheme: Scheme.submissionSetUniqueID, object: setID, value: UID.generate(), name: "XDSSubmissionSet.uniqueId")
        out.externalIdentifier(scheme: Scheme.submissionSetSourceID, object: setID, value: UID.implementationClassUID, name: "XDSSubmissionSet.sourceId")
        if let affinityID {
            out.externalIdentifier(scheme: Scheme.submissionSetPatientID, object: setID, value: affinityID, name: "XDSSubmissionSet.patientId")
        }
        out.end()

        // One DocumentEntry per instance, and its HasMember association.
        var patientInfo = ["PID-3|" + cx]
        if let name = patient.name.map(hl7Name), !name.isEmpty { patientInfo.append("PID-5|" + name) }
        if let birth = patient.birthDate, !birth.isEmpty { patientInfo.append("PID-7|" + birth) }
        if let sex = patient.sex, !sex.isEmpty { patientInfo.append("PID-8|" + sex) }
        for (document, reference) in zip(submission.documents, references) {
            let id = entryUUID()
            out.start("rim", "ExtrinsicObject", attributes: [
                "id": id, "mimeType": "application/dicom", "objectType": Scheme.stableDocumentEntry, "status": Scheme.approved])
            out.slot("creationTime", [time])
            out.slot("hash", [reference.sha1])
            out.slot("languageCode", [submission.languageCode])
            if let date = document.serviceDate, date.count == 8 { out.slot("serviceStartTime", [date]) }
            out.slot("size", [String(reference.size)])
            out.slot("sourcePatientId", [cx])
            out.slot("sourcePatientInfo", patientInfo)
            out.slot("URI", [reference.uri])
            out.localized("Name", document.title)
            out.classification(scheme: Scheme.documentFormatCode, object: id, nodeRepresentation: document.sopClassUID) { out in
                out.slot("codingScheme", [Scheme.dicomUIDRegistry])
                out.localized("Name", UIDRegistry.name(for: document.sopClassUID) ?? document.sopClassUID)
            }
            if let modality = document.modality, !modality.isEmpty {
                out.classification(scheme: Scheme.documentEventCode, object: id, nodeRepresentation: modality) { out in
                    out.slot("codingScheme", [Scheme.dcm])
                    out.localized("Name", modality)
                }
            }
            if let affinityID {
                out.externalIdentifier(scheme: Scheme.documentPatientID, object: id, value: affinityID, name: "XDSDocumentEntry.patientId")
            }
            out.externalIdentifier(scheme: Scheme.documentUniqueID, object: id, value: document.sopInstanceUID, name: "XDSDocumentEntry.uniqueId")
            out.end()
            out.start("rim", "Association", attributes: [
                "id": entryUUID(), "associationType": Scheme.hasMember, "sourceObject": setID, "targetObject": id,
                "objectType": "urn:oasis:names:tc:ebxml-regrep:ObjectType:RegistryObject:Association"])
            out.slot("SubmissionSetStatus", ["Original"])
            out.end()
        }
        out.end()   // RegistryObjectList
        out.end()   // SubmitObjectsRequest
        out.check(xmlTextWriterEndDocument(writer))
        out.check(xmlTextWriterFlush(writer))
        guard out.ok, let content = xmlBufferContent(buffer) else {
            throw MediaError(.unreadable, "libxml2 could not write the XDM metadata", path: "METADATA.XML")
        }
        return Data(bytes: content, count: Int(xmlBufferLength(buffer)))
    }

    /// XDS DTM in UTC, to the second: `YYYYMMDDhhmmss`.
    static func xdsTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMddHHmmss"
        return formatter.string(from: date)
    }

    static func entryUUID() -> String { "urn:uuid:" + UUID().uuidString.lowercased() }

    /// HL7 v2 CX: `ID^^^&OID&ISO` with an assigning authority OID,
    /// `ID^^^ISSUER` with only an issuer name, else `ID`.
    static func patientCX(_ patient: XDMSubmission.Patient) -> String {
        let id = hl7Escape(patient.id)
        if let oid = patient.assigningAuthority, !oid.isEmpty { return "\(id)^^^&\(hl7Escape(oid))&ISO" }
        if let issuer = patient.issuer, !issuer.isEmpty { return "\(id)^^^\(hl7Escape(issuer))" }
        return id
    }

    /// The first non-empty PN group as an HL7 XPN (family^given^middle^suffix^prefix).
    static func hl7Name(_ dicom: String) -> String {
        let name = PersonName(dicom)
        guard let group = [name.alphabetic, name.ideographic, name.phonetic].first(where: { !$0.isEmpty }) else { return "" }
        let parts = PersonName.Components(group)
        var fields = [parts.family, parts.given, parts.middle, parts.suffix, parts.prefix].map(hl7Escape)
        while fields.last?.isEmpty == true { fields.removeLast() }
        return fields.joined(separator: "^")
    }

    /// HL7 v2 escapes of the delimiters `| ^ & ~ \`.
    static func hl7Escape(_ text: String) -> String {
        var out = ""
        for ch in text {
            switch ch {
            case "\\": out += "\\E\\"
            case "|": out += "\\F\\"
            case "^": out += "\\S\\"
            case "&": out += "\\T\\"
            case "~": out += "\\R\\"
            default: out.append(ch)
            }
        }
        return out
    }
}

/// The few ebRIM constructs METADATA.XML repeats, over an xmlTextWriter.
/// A libxml2 failure is remembered (`ok`) and reported once at the end.
private struct XMLOut {
    let writer: xmlTextWriterPtr
    var ok = true

    init(writer: xmlTextWriterPtr) { self.writer = writer }

    mutating func check(_ rc: Int32) { if rc < 0 { ok = false } }

    mutating func start(_ prefix: String, _ name: String, namespace: String? = nil, attributes: KeyValuePairs<String, String> = [:]) {
        check(xmlTextWriterStartElementNS(writer, prefix, name, namespace))
        for (key, value) in attributes { check(xmlTextWriterWriteAttribute(writer, key, value)) }
    }

    mutating func end() { check(xmlTextWriterEndElement(writer)) }

    mutating func text(_ prefix: String, _ name: String, _ value: String) {
        check(xmlTextWriterWriteElementNS(writer, prefix, name, nil, NativeDICOMModel.sanitized(value)))
    }

    mutating func slot(_ name: String, _ values: [String]) {
        start("rim", "Slot", attributes: ["name": name])
        start("rim", "ValueList")
        for value in values { text("rim", "Value", value) }
        end()
        end()
    }

    mutating func localized(_ element: String, _ value: String) {
        start("rim", element)
        start("rim", "LocalizedString", attributes: ["value": NativeDICOMModel.sanitized(value)])
        end()
        end()
    }

    mutating func classification(scheme: String, object: String, nodeRepresentation: String, body: (inout XMLOut) -> Void) {
        start("rim", "Classification", attributes: [
            "id": XDMWriter.entryUUID(), "objectType": XDMWriter.Scheme.classification,
            "classificationScheme": scheme, "classifiedObject": object, "nodeRepresentation": nodeRepresentation])
        body(&self)
        end()
    }

    mutating func externalIdentifier(scheme: String, object: String, value: String, name: String) {
        start("rim", "ExternalIdentifier", attributes: [
            "id": XDMWriter.entryUUID(), "objectType": XDMWriter.Scheme.externalIdentifier,
            "identificationScheme": scheme, "registryObject": object, "value": value])
        localized("Name", name)
        end()
    }

}

/// Reads back what a medium's METADATA.XML says of its documents (for
/// `discport verify`): every DocumentEntry (`rim:ExtrinsicObject`) with its
/// `URI`, `size` and `hash` slots, parsed with libxml2 (no network, no
/// entity expansion).
public enum XDMMetadataReader {
    public struct Entry: Sendable, Hashable {
        public var id: String
        public var uri: String?
        public var size: Int?
        public var sha1: String?
    }

    /// Throws a message when the document is not well-formed XML or not a
    /// SubmitObjectsRequest.
    public static func entries(_ data: Data) throws(MediaError) -> [Entry] {
        let document = data.withUnsafeBytes { raw -> xmlDocPtr? in
            guard let base = raw.baseAddress else { return nil }
            return xmlReadMemory(base.assumingMemoryBound(to: CChar.self), Int32(raw.count), "METADATA.XML", nil,
                                 Int32(XML_PARSE_NONET.rawValue | XML_PARSE_NOERROR.rawValue | XML_PARSE_NOWARNING.rawValue))
        }
        guard let document else { throw MediaError(.unreadable, "not well-formed XML", path: "METADATA.XML") }
        defer { xmlFreeDoc(document) }
        guard let root = xmlDocGetRootElement(document), name(root) == "SubmitObjectsRequest",
              namespace(root) == XDMWriter.lcmNamespace else {
            throw MediaError(.unreadable, "the root element is not lcm:SubmitObjectsRequest (\(XDMWriter.lcmNamespace))",
                             path: "METADATA.XML")
        }
        var entries: [Entry] = []
        func walk(_ node: xmlNodePtr?) {
            var node = node
            while let current = node {
                if current.pointee.type == XML_ELEMENT_NODE {
                    if name(current) == "ExtrinsicObject", namespace(current) == XDMWriter.rimNamespace {
                        entries.append(entry(current))
                    } else {
                        walk(current.pointee.children)
                    }
                }
                node = current.pointee.next
            }
        }
        walk(root.pointee.children)
        return entries
    }

    static func entry(_ object: xmlNodePtr) -> Entry {
        var slots: [String: String] = [:]
        var child = object.pointee.children
        while let slot = child {
            if slot.pointee.type == XML_ELEMENT_NODE, name(slot) == "Slot", let slotName = attribute(slot, "name") {
                slots[slotName] = firstValue(slot)
            }
            child = slot.pointee.next
        }
        return Entry(id: attribute(object, "id") ?? "", uri: slots["URI"], size: slots["size"].flatMap { Int($0) },
                     sha1: slots["hash"]?.lowercased())
    }

    /// The text of the first `Value` under a slot's `ValueList`.
    static func firstValue(_ slot: xmlNodePtr) -> String? {
        var list = slot.pointee.children
        while let current = list {
            if current.pointee.type == XML_ELEMENT_NODE, name(current) == "ValueList" {
                var value = current.pointee.children
                while let item = value {
                    if item.pointee.type == XML_ELEMENT_NODE, name(item) == "Value", let text = xmlNodeGetContent(item) {
                        defer { xmlFree(text) }
                        return String(cString: text).trimmingCharacters(in: .whitespacesAndNewlines)
                    }
                    value = item.pointee.next
                }
            }
            list = current.pointee.next
        }
        return nil
    }

    static func name(_ node: xmlNodePtr) -> String { node.pointee.name.map { String(cString: $0) } ?? "" }
    static func namespace(_ node: xmlNodePtr) -> String? { node.pointee.ns?.pointee.href.map { String(cString: $0) } }
    static func attribute(_ node: xmlNodePtr, _ key: String) -> String? {
        guard let value = xmlGetProp(node, key) else { return nil }
        defer { xmlFree(value) }
        return String(cString: value)
    }

    /// The medium path a URI names, resolved against the folder of
    /// METADATA.XML; nil for an absolute URI, one with a scheme or query,
    /// or one leaving the medium.
    public static func resolve(_ uri: String, metadataPath: String) -> String? {
        guard !uri.isEmpty, !uri.hasPrefix("/"), !uri.contains(":"), !uri.contains("?"), !uri.contains("#") else { return nil }
        var components = metadataPath.split(separator: "/").dropLast().map(String.init)
        for part in (uri.removingPercentEncoding ?? uri).split(separator: "/") {
            switch part {
            case ".": continue
            case "..":
                guard !components.isEmpty else { return nil }
                components.removeLast()
            default: components.append(String(part))
            }
        }
        return components.isEmpty ? nil : components.joined(separator: "/")
    }
}
