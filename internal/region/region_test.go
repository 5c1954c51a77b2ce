package region

import "testing"

func TestTreeCounts(t *testing.T) {
	tr, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	got := tr.Count()
	want := [6]int{0, 1, 11, 100, 1767, 22080} // domain.md ID-04
	if got != want {
		t.Fatalf("counts = %v, want %v", got, want)
	}
	perCity := map[string]int{}
	for _, c := range tr.Children("36") {
		for _, county := range tr.Children(c.Code) {
			perCity[c.Prefix] += len(tr.Children(county.Code))
		}
	}
	if perCity["3607"] != 310 || perCity["3601"] != 139 {
		t.Fatalf("townships: 赣州 %d (want 310), 南昌 %d (want 139)", perCity["3607"], perCity["3601"])
	}
}

func TestKindsAndScope(t *testing.T) {
	tr, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	r, ok := tr.Get("360102002001")
	if !ok || r.Kind != "居委会" || r.Level != Village {
		t.Fatalf("360102002001 = %+v", r)
	}
	if r, _ := tr.Get("360102002"); r.Kind != "街道" {
		t.Fatalf("360102002 kind = %s", r.Kind)
	}
	if r, _ := tr.Get("360102"); r.Kind != "市辖区" {
		t.Fatalf("360102 kind %s", r.Kind)
	}
	kinds := map[string]int{}
	for _, r := range tr.byCode {
		if r.Level == Township {
			kinds[r.Kind]++
		}
	}
	if kinds["街道"] != 188 || kinds["镇"] != 832 || kinds["乡"] != 560 || kinds["乡级单位"] != 187 {
		t.Fatalf("township kinds %v (domain.md ID-05: 188/832/560/187)", kinds)
	}
	if !Within("360100000000", "360102002001") || Within("360200000000", "360102002001") {
		t.Fatal("scope by prefix broken")
	}
	if ScopePrefix("360102002000") != "360102002" || LevelOf("360102000000") != County {
		t.Fatal("prefix/level broken")
	}
	if tr.FullName("360102002001") != "南昌市东湖区滕王阁街道民巷社区居委会" {
		t.Fatal(tr.FullName("360102002001"))
	}
	if n := len(tr.Villages("3601")); n == 0 || n > 22080 {
		t.Fatalf("villages of 南昌: %d", n)
	}
}
