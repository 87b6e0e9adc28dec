/// What the scan read from the header of one readable DICOM file, kept so
/// that an import can file the instance without parsing its header a
/// second time (``MediumScanner/scanKeepingHeaders(_:)``).
///
/// Values are exactly those of the scan report: UIDs, IDs, dates and codes
/// as `Dataset.firstString` gives them, names and descriptions decoded and
/// trimmed of white space, SOP Class and Instance UID from the data set
/// (else the file meta information).
public struct ScannedHeader: Sendable {
    let summary: InstanceSummary

    public var path: String { summary.path }
    public var size: Int { summary.size }
    public var hasFileMeta: Bool { summary.hasFileMeta }
    public var transferSyntaxUID: String { summary.transferSyntaxUID }
    public var sopClassUID: String? { summary.sopClassUID }
    public var sopInstanceUID: String? { summary.sopInstanceUID }
    public var instanceNumber: Int? { summary.instanceNumber }
    public var patientID: String? { summary.patientID }
    public var issuerOfPatientID: String? { summary.issuerOfPatientID }
    public var patientName: String? { summary.patientName }
    public var birthDate: String? { summary.birthDate }
    public var sex: String? { summary.sex }
    public var studyInstanceUID: String? { summary.studyInstanceUID }
    public var studyDate: String? { summary.studyDate }
    public var studyTime: String? { summary.studyTime }
    public var studyDescription: String? { summary.studyDescription }
    public var accessionNumber: String? { summary.accessionNumber }
    public var studyID: String? { summary.studyID }
    public var seriesInstanceUID: String? { summary.seriesInstanceUID }
    public var seriesNumber: Int? { summary.seriesNumber }
    public var modality: String? { summary.modality }
    public var seriesDescription: String? { summary.seriesDescription }
}

extension MediumScanner {
    /// ``scan(_:)``, also returning the header of every readable DICOM file
    /// (those in the report's tree), by path.
    public func scanKeepingHeaders(_ medium: any Medium) -> (report: ScanReport, headers: [String: ScannedHeader]) {
        var kept: [InstanceSummary] = []
        let report = scan(medium) { kept = $0.filter { !$0.isDamaged } }
        var headers: [String: ScannedHeader] = [:]
        headers.reserveCapacity(kept.count)
        for summary in kept { headers[summary.path] = ScannedHeader(summary: summary) }
        return (report, headers)
    }
}
