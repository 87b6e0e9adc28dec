import Foundation
@testable import Jobs
import Media
import Testing

@Suite struct ExportTemplateTests {
    /// The embedded copy is what Templates/ holds (run tools/templates/generate.py after editing).
    @Test func embeddedTemplatesMatchTheTemplatesFolder() throws {
        let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Templates").path
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".mustache") }.sorted()
        #expect(names.sorted() == embeddedTemplates.keys.sorted())
        for name in names {
            let text = try String(contentsOfFile: folder + "/" + name, encoding: .utf8)
            #expect(embeddedTemplates[name]! + "\n" == text, "\(name) is stale: run tools/templates/generate.py")
        }
    }

    @Test func configSubsetOfTOML() throws {
        let values = try SimpleTOML.parse("# clinic\n[institution]\nname = \"山田クリニック\" # comment\ncontact = '03-1234'\n")
        #expect(values["institution.name"] == "山田クリニック")
        #expect(values["institution.contact"] == "03-1234")
        #expect(throws: SimpleTOML.ParseError.self) { try SimpleTOML.parse("name = \"open") }
    }

    @Test func labelPathAndFileSetID() {
        #expect(ExportJob.labelPath(for: "/x/referral.iso") == "/x/referral.label.svg")
        #expect(ExportJob.labelPath(for: "/x/out") == "/x/out.label.svg")
        #expect(ExportJob.defaultFileSetID().count <= 16)
    }

    @Test func volumeNamesAndFileSetIDs() {
        #expect(ExportJob.volumePath("/x/referral.iso", number: 2) == "/x/referral-2.iso")
        #expect(ExportJob.volumePath("/x/out", number: 3) == "/x/out-3")
        #expect(ExportJob.volumeFileSetID("DP20250307_1530", number: 2) == "DP20250307_153_2")
        #expect(ExportJob.volumeFileSetID("REFERRAL", number: 12) == "REFERRAL_12")
        #expect(ExportJob.volumeFileSetID("ABCDEFGHIJKLMNOP", number: 1).count == 16)
    }

    @Test func anExportThatDoesNotFitIsRefusedBeforeWriting() throws {
        #expect(throws: Never.self) { try ExportJob.checkSpace(needed: 5_000_000, available: 5_000_000, folder: "/x", format: .iso) }
        #expect(throws: Never.self) { try ExportJob.checkSpace(needed: 5_000_000, available: nil, folder: "/x", format: .iso) }
        #expect {
            try ExportJob.checkSpace(needed: 6_000_000, available: 2_100_000, folder: "/media/usb", format: .iso)
        } throws: { error in
            "\(error)" == "not enough space in /media/usb: the export needs about 6.00 MB (the file-set, and its ISO image "
                + "while it is packed), 2.10 MB free; nothing was written: free space there or write it elsewhere (--out)"
        }
        // The temporary folder itself has room for a small one.
        let available = try #require(ExportJob.availableBytes(NSTemporaryDirectory()))
        #expect(available > 0)
        #expect(ExportJob.availableBytes("/no/such/folder") == nil)
    }

    @Test func aKilledExportsStagingIsRemovedAndALiveOnesIsNot() throws {
        let folder = NSTemporaryDirectory() + "discport-stale-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: folder) }
        // 4194305 is above the largest process ID Linux gives (2^22).
        let dead = folder + "/" + ExportJob.stagingPrefix("ref.iso") + "4194305-77"
        let live = folder + "/" + ExportJob.stagingPrefix("ref.iso") + "\(getppid())-78"
        let other = folder + "/" + ExportJob.stagingPrefix("other.iso") + "4194305-79"
        for path in [dead + "/DICOM", dead + ".image", live, other] {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        }
        #expect(ExportJob.removeStaleStaging(in: folder, output: "ref.iso") == [dead, dead + ".image"])
        #expect(ExportJob.isRunning(getpid()) && !ExportJob.isRunning(4_194_305))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
                == [URL(fileURLWithPath: live).lastPathComponent, URL(fileURLWithPath: other).lastPathComponent].sorted())
    }

    @Test func aZombieIsNotRunning() throws {
        // A child that exited and was not reaped yet: what a killed export
        // is until its parent (or init) collects it.
        var pid: pid_t = 0
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup("/bin/true"), nil]
        defer { argv.forEach { free($0) } }
        #expect(posix_spawn(&pid, "/bin/true", nil, nil, argv, environ) == 0)
        var zombie = false
        for _ in 0..<200 where !zombie {
            usleep(5_000)
            zombie = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))?.contains(") Z ") ?? false
        }
        #expect(zombie)
        #expect(!ExportJob.isRunning(pid))
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    @Test func capacityAcceptsDecimalSuffixes() {
        #expect(ExportRequest.parseCapacity("700M") == 700_000_000)
        #expect(ExportRequest.parseCapacity("4.7G") == 4_700_000_000)
        #expect(ExportRequest.parseCapacity("25GB") == 25_000_000_000)
        #expect(ExportRequest.parseCapacity("300k") == 300_000)
        #expect(ExportRequest.parseCapacity("123456") == 123_456)
        #expect(ExportRequest.parseCapacity("") == nil)
        #expect(ExportRequest.parseCapacity("-5M") == nil)
        #expect(ExportRequest.parseCapacity("lots") == nil)
        #expect(ExportRequest(selection: .all, format: .iso, output: "x", media: .usb).resolvedCapacity == nil)
        #expect(ExportRequest(selection: .all, format: .iso, output: "x", media: .usb, capacity: 5).resolvedCapacity == 5)
        #expect(ExportRequest(selection: .all, format: .iso, output: "x").resolvedCapacity == 700_000_000)
    }

    /// BD media get a UDF image (PS3.12 Annex X), every other ISO 9660; the
    /// estimate counts the UDF file entries.
    @Test func bdImagesAreUDF() {
        #expect(ExportRequest(selection: .all, format: .iso, output: "x", media: .bd).imageFormat(volumeID: "V") == .udf(volumeID: "V"))
        for media in [MediaKind.cd, .dvd, .dvdDL, .usb] {
            #expect(ExportRequest(selection: .all, format: .iso, output: "x", media: media).imageFormat(volumeID: "V") == .iso(volumeID: "V"))
        }
        #expect(ExportRequest(selection: .all, format: .zip, output: "x", media: .bd).imageFormat(volumeID: "V") == .zip)
        #expect(ExportRequest(selection: .all, format: .dir, output: "x", media: .bd).imageFormat(volumeID: "V") == nil)
        let iso = VolumePlanner.Overhead.referralMedium(), udf = VolumePlanner.Overhead.referralMedium(udf: true)
        #expect(udf.perFile == iso.perFile + 4096 && udf.perSeries == iso.perSeries + 4096 && udf.fixed == iso.fixed)
        // A UDF-only image is never taken for a CD.
        let explicit: Set<String> = ["1.2.840.10008.1.2.1"]
        #expect(MediaProfile.narrowest(allowing: explicit) == .stdGenCD)
        #expect(MediaProfile.narrowest(allowing: explicit, cd: false) == .stdGenDVDJPEG)
        #expect(MediaProfile.stdGenBDJPEG.isBD && MediaProfile.stdGenCD.isCD && !MediaProfile.stdGenDVDJPEG.isCD)
    }

    @Test func fromIsAPathWithASlashAndAnExistingNameOtherwise() throws {
        let folder = NSTemporaryDirectory() + "from-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: folder) }
        #expect(try ExportOrigin.resolve(folder, store: nil) == .medium(folder))
        #expect(throws: ExportError.self) { try ExportOrigin.resolve(folder + "/missing", store: nil) }
        #expect(throws: ExportError.self) { try ExportOrigin.resolve("NO_SUCH_NODE_OR_FILE", store: nil) }
    }
}
