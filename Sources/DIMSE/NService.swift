import DICOMCore

/// A DIMSE-N service (PS3.7 §10.3), the type parameter of its messages: `NRequest<NSet>` is
/// N-SET-RQ (`NSetRequest`), `NResponse<NSet>` N-SET-RSP (`NSetResponse`). The six services'
/// messages share their shape; what one service has of its own is a property on its messages
/// only (`NActionRequest.actionTypeID`, `NGetResponse.attributeIdentifierList`...). The six service
/// types below are the protocols' only conformers: the element tables are PS3.7's for these six.
public protocol NService: Sendable {
    static var requestField: CommandField { get }
    static var responseField: CommandField { get }
}

/// N-GET, N-SET and N-DELETE: their requests name the instance they operate on with Requested SOP
/// Class UID (0000,0003) and Requested SOP Instance UID (0000,1001), and require nothing else (N-GET-RQ
/// may add an Attribute Identifier List). N-ACTION-RQ names its instance so too and requires an Action
/// Type ID: `NActionRequest` has accessors and an initialiser of its own.
public protocol NRequestedInstanceService: NService {}

/// N-GET and N-SET: their responses may carry an Attribute Identifier List (0000,1005).
public protocol NAttributeListService: NService {}

/// N-EVENT-REPORT, PS3.7 §10.3.1: the SCP reports an event on a managed instance.
public enum NEventReport: NService {
    public static let requestField = CommandField.nEventReportRequest, responseField = CommandField.nEventReportResponse
}

/// N-GET, PS3.7 §10.3.2: attribute values of an instance.
public enum NGet: NRequestedInstanceService, NAttributeListService {
    public static let requestField = CommandField.nGetRequest, responseField = CommandField.nGetResponse
}

/// N-SET, PS3.7 §10.3.3: modifies attribute values of an instance.
public enum NSet: NRequestedInstanceService, NAttributeListService {
    public static let requestField = CommandField.nSetRequest, responseField = CommandField.nSetResponse
}

/// N-ACTION, PS3.7 §10.3.4: asks for an action on an instance.
public enum NAction: NService {
    public static let requestField = CommandField.nActionRequest, responseField = CommandField.nActionResponse
}

/// N-CREATE, PS3.7 §10.3.5: creates an instance.
public enum NCreate: NService {
    public static let requestField = CommandField.nCreateRequest, responseField = CommandField.nCreateResponse
}

/// N-DELETE, PS3.7 §10.3.6: deletes an instance.
public enum NDelete: NRequestedInstanceService {
    public static let requestField = CommandField.nDeleteRequest, responseField = CommandField.nDeleteResponse
}

/// N-EVENT-REPORT-RQ, PS3.7 §10.3.1.1, Table 10.3-1. Event Information, if any, follows as the data set.
public typealias NEventReportRequest = NRequest<NEventReport>
/// N-EVENT-REPORT-RSP, PS3.7 §10.3.1.2, Table 10.3-2. Event Reply, if any, follows as the data set.
public typealias NEventReportResponse = NResponse<NEventReport>
/// N-GET-RQ, PS3.7 §10.3.2.1, Table 10.3-3. Never followed by a data set.
public typealias NGetRequest = NRequest<NGet>
/// N-GET-RSP, PS3.7 §10.3.2.2, Table 10.3-4. The Attribute List follows as the data set.
public typealias NGetResponse = NResponse<NGet>
/// N-SET-RQ, PS3.7 §10.3.3.1, Table 10.3-5. The Modification List follows as the data set.
public typealias NSetRequest = NRequest<NSet>
/// N-SET-RSP, PS3.7 §10.3.3.2, Table 10.3-6. The Attribute List, if any, follows as the data set.
public typealias NSetResponse = NResponse<NSet>
/// N-ACTION-RQ, PS3.7 §10.3.4.1, Table 10.3-7. Action Information, if any, follows as the data set.
public typealias NActionRequest = NRequest<NAction>
/// N-ACTION-RSP, PS3.7 §10.3.4.2, Table 10.3-8. Action Reply, if any, follows as the data set.
public typealias NActionResponse = NResponse<NAction>
/// N-CREATE-RQ, PS3.7 §10.3.5.1, Table 10.3-9. The Attribute List, if any, follows as the data set.
public typealias NCreateRequest = NRequest<NCreate>
/// N-CREATE-RSP, PS3.7 §10.3.5.2, Table 10.3-10. The Attribute List, if any, follows as the data set.
public typealias NCreateResponse = NResponse<NCreate>
/// N-DELETE-RQ, PS3.7 §10.3.6.1, Table 10.3-11. Never followed by a data set.
public typealias NDeleteRequest = NRequest<NDelete>
/// N-DELETE-RSP, PS3.7 §10.3.6.2, Table 10.3-12. Never followed by a data set.
public typealias NDeleteResponse = NResponse<NDelete>
