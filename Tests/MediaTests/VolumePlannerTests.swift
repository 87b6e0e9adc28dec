import Foundation
@testable import Media
import Testing

@Suite struct VolumePlannerTests {
    /// No overhead: sizes are the items' bytes only, so the arithmetic is plain.
    let none = VolumePlanner.Overhead(fixed: 0, perFile: 0, perSeries: 0, perStudy: 0)

    /// `count` instances of `bytes` each in one series of one study.
    func series(_ study: String, _ series: String, count: Int, bytes: Int64) -> [VolumePlanner.Item] {
        Array(repeating: VolumePlanner.Item(studyUID: study, seriesUID: series, bytes: bytes), count: count)
    }

    @Test func everythingThatFitsStaysOnOneVolume() throws {
        let items = series("A", "A1", count: 5, bytes: 10) + series("B", "B1", count: 5, bytes: 10)
        let volumes = try VolumePlanner.plan(items, capacity: 100, overhead: none)
        #expect(volumes.count == 1)
        #expect(volumes[0].items == Array(0..<10))
        #expect(volumes[0].bytes == 100)
    }

    @Test func studiesStayWholeAndArePackedFirstFitDecreasing() throws {
        // Studies of 60, 50, 40 and 30 bytes on media of 100: FFD gives
        // {60, 40} and {50, 30}; in order (next-fit) would need three.
        let items = series("S60", "a", count: 6, bytes: 10) + series("S50", "b", count: 5, bytes: 10)
            + series("S40", "c", count: 4, bytes: 10) + series("S30", "d", count: 3, bytes: 10)
        let volumes = try VolumePlanner.plan(items, capacity: 100, overhead: none)
        #expect(volumes.count == 2)
        func studies(_ v: VolumePlanner.Volume) -> Set<String> { Set(v.items.map { items[$0].studyUID }) }
        #expect(studies(volumes[0]) == ["S60", "S40"])   // volume 1 starts with the first study
        #expect(studies(volumes[1]) == ["S50", "S30"])
        #expect(volumes.allSatisfy { $0.bytes <= 100 })
        #expect(volumes.flatMap(\.items).sorted() == Array(items.indices))
    }

    @Test func aStudyLargerThanOneMediumIsCutBetweenSeriesOnly() throws {
        // One study of three series (40, 40, 40) on media of 100.
        let items = series("S", "1", count: 4, bytes: 10) + series("S", "2", count: 4, bytes: 10) + series("S", "3", count: 4, bytes: 10)
        let volumes = try VolumePlanner.plan(items, capacity: 100, overhead: none)
        #expect(volumes.count == 2)
        for volume in volumes {
            let seriesHere = Set(volume.items.map { items[$0].seriesUID })
            for s in seriesHere {   // every series entirely on one volume
                #expect(volume.items.filter { items[$0].seriesUID == s }.count == 4)
            }
        }
        #expect(volumes.map(\.items.count).reduce(0, +) == 12)
    }

    @Test func aSeriesLargerThanOneMediumIsRefusedWithItsSize() {
        let items = series("S", "BIG", count: 20, bytes: 10)
        #expect {
            try VolumePlanner.plan(items, capacity: 100, overhead: none)
        } throws: { error in
            let message = (error as? VolumePlanError)?.message ?? ""
            return message.contains("series BIG (20 instances)") && message.contains("does not cut a series")
        }
        let huge = [VolumePlanner.Item(studyUID: "S", seriesUID: "ONE", bytes: 500)]
        #expect {
            try VolumePlanner.plan(huge, capacity: 100, overhead: none)
        } throws: { error in
            ((error as? VolumePlanError)?.message ?? "").contains("a single instance of series ONE (500 B")
        }
    }

    @Test func overheadIsCountedPerFileSeriesStudyAndVolume() throws {
        let overhead = VolumePlanner.Overhead(fixed: 1000, perFile: 100, perSeries: 10, perStudy: 1)
        let items = series("A", "A1", count: 2, bytes: 50) + series("A", "A2", count: 1, bytes: 50)
        // 3 × (50 + 100) + 2 series × 10 + 1 study + 1000 fixed.
        #expect(VolumePlanner.estimate(items, overhead: overhead) == 450 + 20 + 1 + 1000)
        // A medium of 1400 holds 400 after the fixed part: series A1 takes
        // 2 × 150 + 10 + 1 = 311, A2 161, both 471 → the study is cut in two.
        let volumes = try VolumePlanner.plan(items, capacity: 1400, overhead: overhead)
        #expect(volumes.count == 2)
        #expect(volumes.map(\.bytes) == [1311, 1161])
        // 1300 leaves 300: series A1 alone does not fit, and is not cut.
        #expect(throws: VolumePlanError.self) { try VolumePlanner.plan(items, capacity: 1300, overhead: overhead) }
        #expect {
            try VolumePlanner.plan(items, capacity: 900, overhead: overhead)
        } throws: { error in ((error as? VolumePlanError)?.message ?? "").contains("leaves no room") }
    }

    @Test func sizesAreDecimalWithThreeDigits() {
        #expect(VolumePlanError.size(700_000_000) == "700 MB")
        #expect(VolumePlanError.size(4_700_000_000) == "4.70 GB")
        #expect(VolumePlanError.size(2_216_792) == "2.22 MB")
        #expect(VolumePlanError.size(12_500) == "12.5 KB")
        #expect(VolumePlanError.size(999) == "999 B")
    }

    @Test func referralOverheadIsConservativeForAnISO() {
        let overhead = VolumePlanner.Overhead.referralMedium()
        #expect(overhead.perFile >= 2048)   // the last sector of every file
        #expect(overhead.fixed >= 1_000_000)
        // --xdm: every file's DocumentEntry and the submission set count too.
        let xdm = VolumePlanner.Overhead.referralMedium(xdm: true)
        #expect(xdm.perFile == overhead.perFile + VolumePlanner.Overhead.xdmPerDocument)
        #expect(xdm.fixed == overhead.fixed + VolumePlanner.Overhead.xdmPerPatient)
    }
}
