package auth

import "jiuzhu/internal/region"

// Permission is a resource:action pair checked by route wrappers.
type Permission string

const (
	RegistryRead   Permission = "registry:read"
	RegistryWrite  Permission = "registry:write"
	RegistryReveal Permission = "registry:reveal" // see a full ID number
	UserAdmin      Permission = "user:admin"
	AuditRead      Permission = "audit:read"
	// PolicySchedule proposes a new dated parameter value and PolicyApprove
	// decides on someone else's proposal; both only at province or city level
	// and inside the user's region (checked by the policy store). Reading
	// standards and calculating need only a login.
	PolicySchedule Permission = "policy:schedule"
	PolicyApprove  Permission = "policy:approve"
	// CaseRead sees case files and worklists in scope; CaseAct takes steps,
	// each step further limited to its office and role by casework.
	CaseRead Permission = "case:read"
	CaseAct  Permission = "case:act"
	// PayrollRead sees runs, lines, ledgers; PayrollRun makes a county's
	// monthly run and its bank files; PayrollApprove checks someone else's
	// run (maker-checker, enforced by payroll); PayrollLedger allocates funds
	// and keeps recoveries; PayrollReserve keeps a township's reserve fund.
	PayrollRead    Permission = "payroll:read"
	PayrollRun     Permission = "payroll:run"
	PayrollApprove Permission = "payroll:approve"
	PayrollLedger  Permission = "payroll:ledger"
	PayrollReserve Permission = "payroll:reserve"
	// VerifyRequest records authorisations, requests a household's
	// verification and reads its reports in scope; VerifyImport loads
	// department extracts and sees match counts (never the matched people);
	// VerifyBatch runs batch re-checks; VerifyTasks works the tasks they
	// raise for a township.
	VerifyRequest Permission = "verify:request"
	VerifyImport  Permission = "verify:import"
	VerifyBatch   Permission = "verify:batch"
	VerifyTasks   Permission = "verify:tasks"
	// InstitutionRead sees support institutions, placements and office
	// capacity in scope; InstitutionWrite registers and edits institutions,
	// rates and inspects them, admits and discharges residents and records
	// office staffing.
	InstitutionRead  Permission = "institution:read"
	InstitutionWrite Permission = "institution:write"
	// StatsRead sees the statistics and dashboards of the user's region.
	StatsRead Permission = "stats:read"
	// ShareAdmin issues and revokes the API keys of consuming departments
	// and portals (data sharing and DCI).
	ShareAdmin Permission = "share:admin"
	// DiscoveryRead sees the proactive-discovery worklists in scope;
	// DiscoveryImport loads department events and other registries.
	DiscoveryRead   Permission = "discovery:read"
	DiscoveryImport Permission = "discovery:import"
	// CreditRead sees credit (fraud) records in scope; CreditManage records
	// an appeal's outcome or an early expiry.
	CreditRead   Permission = "credit:read"
	CreditManage Permission = "credit:manage"
	// ReferralWrite records a household's needs and refers them;
	// ReferralRead sees referrals in scope; ReferralAnswer is the member
	// department's or charity's user, who sees only what is addressed to
	// its organisation; ReferralOrgs keeps a county's list of organisations.
	ReferralWrite  Permission = "referral:write"
	ReferralRead   Permission = "referral:read"
	ReferralAnswer Permission = "referral:answer"
	ReferralOrgs   Permission = "referral:orgs"
	// IntegrityRead sees the anomaly lists in scope; IntegrityDecide marks
	// an entry explained, referred or confirmed; CampaignRun opens special
	// campaigns and assigns their samples.
	IntegrityRead   Permission = "integrity:read"
	IntegrityDecide Permission = "integrity:decide"
	CampaignRun     Permission = "campaign:run"
)

// Role is one of the jobs of DESIGN.md §1.
type Role string

const (
	VillageAssistant    Role = "village_assistant"
	TownshipCaseworker  Role = "township_caseworker"
	TownshipReviewer    Role = "township_reviewer"
	CountyApprover      Role = "county_approver"
	CountyFinance       Role = "county_finance"
	VerificationOfficer Role = "verification_officer"
	Supervisor          Role = "supervisor"
	DepartmentOfficer   Role = "department_officer"
	PartnerOfficer      Role = "partner_officer"
	Inspector           Role = "inspector"
	Auditor             Role = "auditor"
	Admin               Role = "admin"
)

// RoleInfo says what a role may do and at which levels of the tree it may sit.
type RoleInfo struct {
	Role   Role
	Label  string
	Levels []int
	Perms  []Permission
}

// Roles lists every role in the order the UI offers them.
var Roles = []RoleInfo{
	{VillageAssistant, "村（社区）协理员", []int{region.Village}, []Permission{RegistryRead, RegistryWrite, CaseRead, CaseAct, ReferralRead}},
	{TownshipCaseworker, "乡镇（街道）经办人", []int{region.Township}, []Permission{RegistryRead, RegistryWrite, RegistryReveal, CaseRead, CaseAct, VerifyRequest, VerifyTasks, InstitutionRead, DiscoveryRead, ReferralWrite, ReferralRead}},
	{TownshipReviewer, "乡镇（街道）审核人", []int{region.Township}, []Permission{RegistryRead, RegistryWrite, RegistryReveal, CaseRead, CaseAct, PayrollRead, PayrollReserve, VerifyRequest, VerifyTasks, InstitutionRead, StatsRead, DiscoveryRead, ReferralWrite, ReferralRead}},
	{CountyApprover, "县级审批人", []int{region.County}, []Permission{RegistryRead, RegistryReveal, CaseRead, CaseAct, PayrollRead, PayrollRun, PayrollApprove, VerifyRequest, VerifyTasks, InstitutionRead, InstitutionWrite, StatsRead, DiscoveryRead, CreditRead, CreditManage, ReferralRead, ReferralOrgs, IntegrityRead}},
	{CountyFinance, "县级资金审核人", []int{region.County}, []Permission{RegistryRead, CaseRead, PayrollRead, PayrollApprove, PayrollLedger, StatsRead}},
	{VerificationOfficer, "核对中心核对员", []int{region.Province, region.City, region.County}, []Permission{RegistryRead, RegistryReveal, CaseRead, VerifyRequest, VerifyImport, VerifyBatch, VerifyTasks, DiscoveryRead, DiscoveryImport}},
	{Supervisor, "市/省级监管人员", []int{region.Province, region.City}, []Permission{RegistryRead, CaseRead, PolicySchedule, PolicyApprove, PayrollRead, InstitutionRead, InstitutionWrite, StatsRead, DiscoveryRead, CreditRead, ReferralRead, ReferralOrgs, IntegrityRead, CampaignRun}},
	{DepartmentOfficer, "部门数据专员", []int{region.Province, region.City, region.County}, []Permission{VerifyImport, DiscoveryImport}},
	{PartnerOfficer, "协同部门/社会组织经办人", []int{region.County}, []Permission{ReferralAnswer}},
	{Inspector, "纪检监察人员", []int{region.Province, region.City, region.County}, []Permission{RegistryRead, CaseRead, PayrollRead, AuditRead, StatsRead, DiscoveryRead, CreditRead, CreditManage, ReferralRead, IntegrityRead, IntegrityDecide, CampaignRun}},
	{Auditor, "审计人员", []int{region.Province, region.City, region.County}, []Permission{RegistryRead, AuditRead, CaseRead, PayrollRead, InstitutionRead, StatsRead, DiscoveryRead, CreditRead, ReferralRead, IntegrityRead}},
	{Admin, "系统管理员", []int{region.Province, region.City, region.County, region.Township}, []Permission{UserAdmin, RegistryRead, AuditRead, PolicySchedule, PolicyApprove, InstitutionRead, InstitutionWrite, StatsRead, ShareAdmin, ReferralOrgs}},
}

// Info returns a role's description.
func Info(r Role) (RoleInfo, bool) {
	for _, ri := range Roles {
		if ri.Role == r {
			return ri, true
		}
	}
	return RoleInfo{}, false
}

// Has reports whether a role holds a permission.
func (r Role) Has(p Permission) bool {
	ri, _ := Info(r)
	for _, q := range ri.Perms {
		if q == p {
			return true
		}
	}
	return false
}

// Label is the Chinese name of the role.
func (r Role) Label() string {
	ri, ok := Info(r)
	if !ok {
		return string(r)
	}
	return ri.Label
}

// AllowedAt reports whether the role may be bound to a node of that level.
func (r Role) AllowedAt(level int) bool {
	ri, _ := Info(r)
	for _, l := range ri.Levels {
		if l == level {
			return true
		}
	}
	return false
}
