import DICOM
import Foundation
@testable import Media
import Testing

/// How the DICOMDIR records group and describe the instances of a file-set.
@Suite struct FileSetRecordTests {
    /// Writes `instances` (DiscBuilder fixtures) as a file-set; returns the
    /// temporary root (to remove), the result and the DICOMDIR read back.
    func write(_ instances: [DiscInstance], profile: MediaProfile = .stdGenCD, invent: Bool = false)
        throws -> (root: String, result: FileSetResult, directory: DICOMDirectory) {
        let root = NSTemporaryDirectory() + "fsr-" + UUID().uuidString
        try DiscBuilder.write(instances, to: root + "/src", dicomdir: nil)
        let files = instances.map { FileSetSource(path: root + "/src/" + $0.path) }
        let result = try FileSetWriter(profile: profile, fileSetID: "T", invent: invent).write(files, to: root + "/out")
        let directory = DICOMDirectory(file: try DICOMFile(contentsOf: root + "/out/DICOMDIR"), path: "DICOMDIR")
        return (root, result, directory)
    }

    func records(_ directory: DICOMDirectory, _ level: DirectoryRecord.Level) -> [DirectoryRecord] {
        directory.records.filter { $0.level == level }
    }

    @Test("one SERIES record per Series Instance UID, though its instances disagree on the Series Number")
    func oneSeriesRecordPerSeriesUID() throws {
        var instances = DiscBuilder.standardDisc()   // series 1 (1 instance), series 2 (2 instances)
        instances[0].seriesNumber = 2                 // the scout's series says 2,
        instances[1].seriesNumber = 1                 // the axial series' instances say 1 and 3: around it
        instances[2].seriesNumber = 3
        let (root, result, directory) = try write(instances)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let series = records(directory, .series)
        #expect(series.count == 2)
        #expect(Set(series.compactMap(\.seriesInstanceUID)).count == 2)
        #expect(Set(result.entries.map { $0.fileID.dropLast() }).count == 2)
    }
}
