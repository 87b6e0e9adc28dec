import Convert
import Crypto
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

    /// The source name of a documents-only medium's patient in the summary.
    static let documentsLabel = "(documents and photos)"

    /// Converts and stores; returns notes on what was not converted.
    func run(_ report: @escaping @Sendable (InstanceEvent) -> Void) -> [String] {
        let loose = plan.convertibleFiles.sorted { $0.path < $1.path }
        guard !loose.isEmpty else { return [] }
        // Whose they are, before anything is copied out.
        var target: Target?
        if plan.documentsPatient == nil {
            switch importedPatientTarget(count: loose.count) {
            case .success(let found): target = found
            case .failure(let note): return [note.description]
            }
        }
        // Files of an archive or image are copied out (they are streams), then
        // converted; files are converted in path order, so numbering is stable.
        let scratch = NSTemporaryDirectory() + "discport-convert-" + UUID().uuidString
        try? FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        // A folder is read where it is; only archives and images are copied out.
        let copied: [String: String]
        do {
            copied = try medium.localFiles(Set(loose.map(\.path)), copyingInto: scratch).mapValues(\.path)
        } catch {
            return ["documents not converted: the medium could not be read again: \(error)"]
        }
        if let patient = plan.documentsPatient {
            switch documentsTarget(patient, loose: loose, copied: copied) {
            case .success(let found): target = found
            case .failure(let note): return [note.description]
            }
        }
        guard let target else { return [] }
        var options = ConvertOptions(patient: target.identity, study: target.study)
        options.seriesDescription = "Imported documents"
        let session: ConversionSession
        do {
            session = try ConversionSession(options: options)
        } catch {
            return ["documents not converted: \(error.description)"]
        }
        let studyUID = target.study.studyInstanceUID ?? ""
        let stable = StableConversion(studyInstanceUID: studyUID, seriesSalt: "import --convert", creationDateTime: creationDateTime)
        let notes = Mutex<[String]>([])
        let identity = target.identity, index = target.patient
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
                        // Converting again gives the same UIDs: one the store has is known.
                        let known = try store?.instance(sopInstanceUID: object.sopInstanceUID ?? "") != nil
                        one.outcome = known ? .wouldSkipKnown : .wouldStore
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

    /// Whose documents, in which study, under which patient index of the events.
    struct Target {
        var identity: LocalIdentity
        var study: StudyContext
        var patient: Int
    }

    struct Note: Error, CustomStringConvertible { var description: String }

    /// The one imported patient of the medium: the identity its instances
    /// got, new series in its latest study on the medium.
    func importedPatientTarget(count: Int) -> Result<Target, Note> {
        let imported = plan.decisions.indices.filter { plan.decisions[$0] != .skip && plan.report.patients[$0].instanceCount > 0 }
        guard imported.count == 1, let index = imported.first else {
            return .failure(Note(description: "\(count) document(s)/photo(s) not converted: --convert needs exactly one imported patient on the medium (\(imported.count) are imported); convert them with `discport convert --study UID`"))
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
            return .failure(Note(description: "\(count) document(s)/photo(s) not converted: the patient's study has no Study Instance UID"))
        }
        let highest = study.series.compactMap(\.seriesNumber).max() ?? 0
        return .success(Target(identity: identity, study: StudyContext(
            studyInstanceUID: studyUID, studyDate: study.studyDate, studyTime: study.studyTime,
            studyDescription: study.studyDescription, accessionNumber: study.accessionNumber, studyID: study.studyID,
            firstSeriesNumber: max(highest, 900) + 1), patient: index))
    }

    /// A medium of documents only: a study of their own for `patient`,
    /// its UID derived from the patient and the documents' content, so
    /// importing the same disc again finds the same objects stored, and
    /// another disc makes another study. Dated by the import run.
    func documentsTarget(_ patient: LocalIdentity, loose: [ScanReport.LooseFile], copied: [String: String]) -> Result<Target, Note> {
        var contents: [String] = []
        for file in loose {
            guard let path = copied[file.path], let data = FileManager.default.contents(atPath: path) else {
                return .failure(Note(description: "documents not converted: \(file.path) cannot be read again from the medium"))
            }
            contents.append(DICOMBinary.hex(SHA256.hash(data: data)))
        }
        let studyUID = StableConversion.derivedUID(["import --convert documents", patient.issuerOfPatientID ?? "", patient.patientID] + contents.sorted())
        let digits = creationDateTime.prefix(14)
        return .success(Target(identity: patient, study: StudyContext(
            studyInstanceUID: studyUID, studyDate: digits.count == 14 ? String(digits.prefix(8)) : nil,
            studyTime: digits.count == 14 ? String(digits.suffix(6)) : nil, studyDescription: "Imported documents",
            studyID: "1", firstSeriesNumber: 1), patient: plan.report.patients.count))
    }
}
