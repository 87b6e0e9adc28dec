import Convert
import Crypto
import DICOM
import Foundation
import Store

/// Converts a file for an import or a migration so that doing it again
/// gives the same objects: Series and SOP Instance UIDs derived from the
/// study, the kind of object and the file's content (not random), and the
/// file's SHA-256 given to the store as the instance's origin. A re-run
/// (or a resumed one) then finds every converted object already stored.
struct StableConversion {
    /// Study the objects go into.
    let studyInstanceUID: String
    /// Separates series of different jobs in the same study (`import`, a
    /// manifest's series key).
    let seriesSalt: String
    /// Instance Creation Date/Time written into every object (DT): the
    /// time of the job's first run, so a resumed run writes the same bytes
    /// and finds what a killed run left behind.
    let creationDateTime: String

    /// Converts `path` with `session`; returns each object with the bytes
    /// to store and the origin hash. `adjust` changes each object (after
    /// its UIDs and times are set) before it is encoded.
    func convert(_ path: String, displayPath: String, session: ConversionSession,
                 adjust: (inout DICOMFile) -> Void = { _ in }) throws -> [(file: DICOMFile, source: InstanceSource)] {
        try convert(contents: InputFile.read(path), path: path, displayPath: displayPath, session: session, adjust: adjust)
    }

    /// ``convert(_:displayPath:session:adjust:)`` of a file already read
    /// (`contents`, the bytes of the file at `path`): read once, hashed and
    /// converted from memory.
    func convert(contents: Data, path: String, displayPath: String, session: ConversionSession,
                 adjust: (inout DICOMFile) -> Void = { _ in }) throws -> [(file: DICOMFile, source: InstanceSource)] {
        let origin = DICOMBinary.hex(SHA256.hash(data: contents))
        let converted = try session.convert(contents: contents, path: path)
        var out: [(file: DICOMFile, source: InstanceSource)] = []
        for (index, instance) in converted.enumerated() {
            var file = instance.file
            let kind = instance.sopClassUID + (instance.method.hasPrefix("PDF pages") ? "/pages" : "")
            let series = Self.derivedUID([studyInstanceUID, seriesSalt, kind])
            let sop = Self.derivedUID([studyInstanceUID, seriesSalt, origin, String(index)])
            file.dataset.set(DataElement(tag: .seriesInstanceUID, vr: .UI, bytes: DICOMWriter.paddedUID(series)))
            file.dataset.set(DataElement(tag: .sopInstanceUID, vr: .UI, bytes: DICOMWriter.paddedUID(sop)))
            let digits = creationDateTime.prefix(14)
            if digits.count == 14 {
                file.dataset.set(DataElement(tag: Tag(0x0008, 0x0012), vr: .DA, bytes: Data(digits.prefix(8).utf8)))
                file.dataset.set(DataElement(tag: Tag(0x0008, 0x0013), vr: .TM, bytes: Data(digits.suffix(6).utf8)))
            }
            if file.meta[.mediaStorageSOPInstanceUID] != nil {
                file.meta.set(DataElement(tag: .mediaStorageSOPInstanceUID, vr: .UI, bytes: DICOMWriter.paddedUID(sop)))
            }
            adjust(&file)
            let data = try DICOMWriter.encode(file)
            var source = InstanceSource.data(data, originalPath: displayPath)
            source.originSHA256 = origin + (index == 0 ? "" : "#\(index)")
            out.append((file, source))
        }
        return out
    }

    static func derivedUID(_ parts: [String]) -> String {
        UID.derived(from: Array(SHA256.hash(data: Data(parts.joined(separator: "\u{1F}").utf8))))
    }
}
