import DICOM
import Foundation
import Reconcile
import Testing

@Suite("Identity coercion")
struct IdentityCoercionTests {
    @Test("DT of a date is UTC with microseconds")
    func dateTime() {
        #expect(IdentityCoercion.dateTime(Date(timeIntervalSince1970: 0)) == "19700101000000.000000+0000")
    }
}
