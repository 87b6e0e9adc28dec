import Convert
import DICOM
import Foundation
import Media
import Reconcile
import Store
import Synchronization

/// `discport import --convert`: the medium's JPEG, PNG, TIFF, BMP and PDF
/// files become DICOM objects (Secondary Capture, Encapsulated PDF) of the
/// imported patient, in new series of the patient's latest study on the
/// medium, with the same identity the DICOM instances were filed under.
///
/// Only when exactly one patient of the medium is imported: a loose file
/// names no patient, and guessing would risk filing it under the wrong one.
/// Converting again gives the same objects (``StableConversion``), so a
/// re-import finds them stored.
struct LooseFileConversion {
    let plan: ImportPlan
    let medium: any Medium
    let store: InstanceStore?
    let importID: Int64?
    let dryRun: Bool
    /// DT of the import run (an interrupted run's when resuming).
    let creationDateTime: String

    static let convertibleKinds: Set<String> = ["jpeg", "png", "tiff", "bmp", "pdf"]

    /// Converts and stores; returns notes on what was not converted.
    func run(_ report: @escaping @Sendable (InstanceEvent) -> Void) -> [String] {
        let loose = plan.report.looseFiles.filter { Self.convertibleKinds.contains($0.kind) }.sorted { $0.path < $1.path }
        guard !loose.isEmpty else { return [] }
        let imported = plan.decisions.indices.filter { plan.decisions[$0] != .skip && plan.report.patients[$0].instanceCount > 0 }
        guard imported.count == 1, let index = imported.first else {
            return ["\(loose.count) document(s)/photo(s) not converted: --convert needs exactly one imported patient on the medium (\(imported.count) are imported); convert them with `discport convert --study UID`"]
        }
        let patient = plan.report.patients[index]
        // The identity the patient's instances got; demographics the
        // coercion kept come from the medium, as in those instances.
        var identity = LocalIdentity(patientID: patient.patientID ?? "", issuerOfPatientID: patient.issuerOfPatientID,
                                     patientName: patient.name, birthDate: patient.birthDate, sex: patient.sex)
        if case .assign(let local) = plan.decisions[index] {
            identity.patientID = local.patientID
            identity.issuerOfPatientID = local.issuerOfPatientID
            identity.patientName = local.patientName ?? identity.patientName
            identity.birthDate = local.birthDate ?? identity.birthDate
            identity.sex = local.sex ?? identity.sex
        }
        guard let study = patient.studies.max(by: { ($0.studyDate ?? "", $0.studyTime ?? "") < ($1.studyDate ?? "", $1.studyTime ?? "") }),
              let studyUID = study.studyInstanceUID else {
            return ["\(loose.count) document(s)/photo(s) not converted: the patient's study has no Study Instance UID"]
        }
        let highest = study.series.compactMap(\.seriesNumber).max() ?? 0
        var options = ConvertOptions(patient: identity, study: StudyContext(
            studyInstanceUID: studyUID, studyDate: study.studyDate, studyTime: study.studyTime,
            studyDescription: study.studyDescription, accessionNumber: study.accessionNumber, studyID: study.studyID,
            firstSeriesNumber: max(highest, 900) + 1))
        options.seriesDescription = "Imported documents"
        let session: ConversionSession
        do {
            session = try ConversionSession(options: options)
        } catch {
            return ["documents not converted: \(error.description)"]
        }
        let stable = StableConversion(studyInstanceUID: studyUID, seriesSalt: "import --convert", creationDateTime: creationDateTime)
        let notes = Mutex<[String]>([])
        let wanted = Set(loose.map(\.path))
        // Files of an archive or image are copied out (they are streams), then
        // converted; files are converted in path order, so numbering is stable.
        let scratch = NSTemporaryDirectory() + "discport-convert-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // A folder is read where it is; only archives and images are copied out.
        let copied: [String: String]
        do {
            copied = try medium.localFiles(wanted, copyingInto: scratch).mapValues(\.path)
        } catch {
            return ["documents not converted: the medium could not be read again: \(error)"]
        }
        for file in loose {
            var event = InstanceEvent(path: file.path, sopInstanceUID: nil, outcome: .failed, patient: index,
                                      patientID: identity.patientID, coerced: false, storedPath: nil, size: file.size,
                                      message: nil, convertedFrom: nil)
            guard let copy = copied[file.path] else {
                event.message = "not found on the medium again"
                notes.withLock { $0.append("\(file.path): \(event.message!)") }
                report(event)
                continue
            }
            do {
                for (object, source) in try stable.convert(copy, displayPath: file.path, session: session) {
                    var one = event
                    one.sopInstanceUID = object.sopInstanceUID
                    one.convertedFrom = "\(file.kind) → \(UIDRegistry.name(for: object.sopClassUID ?? "") ?? "DICOM")"
                    if dryRun || store == nil {
                        one.outcome = .wouldStore
                    } else if let store {
                        one.reachedStore = true
                        let result = try store.store(source, summary: InstanceSummary(file: object), importID: importID)
                        one.outcome = InstanceOutcome(result.outcome)
                        one.storedPath = result.path
                    }
                    report(one)
                }
            } catch {
                event.message = "\(error)"
                notes.withLock { $0.append("\(file.path) not converted: \(error)") }
                report(event)
            }
        }
        return notes.withLock { $0 }
    }
}
