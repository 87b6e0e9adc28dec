// Interim shim until the generated dictionary and the charset engine land.
import Foundation
extension Tag {
    public static let specificCharacterSet = Tag(0x0008, 0x0005)
    public static let pixelData = Tag(0x7FE0, 0x0010)
    public static let pixelRepresentation = Tag(0x0028, 0x0103)
    public static let transferSyntaxUID = Tag(0x0002, 0x0010)
    public static let mediaStorageSOPClassUID = Tag(0x0002, 0x0002)
    public static let mediaStorageSOPInstanceUID = Tag(0x0002, 0x0003)
    public static let sopClassUID = Tag(0x0008, 0x0016)
    public static let sopInstanceUID = Tag(0x0008, 0x0018)
    public static let fileMetaInformationGroupLength = Tag(0x0002, 0x0000)
    public static let fileMetaInformationVersion = Tag(0x0002, 0x0001)
    public static let implementationClassUID = Tag(0x0002, 0x0012)
    public static let implementationVersionName = Tag(0x0002, 0x0013)
}
public struct DictionaryEntry: Sendable, Hashable { public let tag: Tag; public let vr: VR; public let vrText: String; public let alternateVRs: [VR]; public let vm: String; public let keyword: String; public let name: String; public let isRetired: Bool }
public enum DataDictionary { public static func entry(for tag: Tag) -> DictionaryEntry? { nil } }
public enum UIDRegistry { public static func name(for uid: String) -> String? { nil } }
public enum CharacterSetError: Error, Sendable, Hashable { case undecodable(byteOffset: Int, term: String) }
public struct SpecificCharacterSet: Sendable, Hashable {
    public static let `default` = SpecificCharacterSet(lenientTerms: [])
    public init(lenientTerms: [String]) {}
    public func decodeLossy(_ bytes: some Collection<UInt8>, vr: VR) -> (text: String, problems: [CharacterSetError]) { (String(decoding: Array(bytes), as: UTF8.self), []) }
    public func encode(_ text: String, vr: VR) throws(CharacterSetError) -> [UInt8] { Array(text.utf8) }
}
