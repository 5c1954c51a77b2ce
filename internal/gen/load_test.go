package gen

import (
	"context"
	"testing"

	"jiuzhu/internal/crypt"
	"jiuzhu/internal/db"
	"jiuzhu/internal/testdb"
)

func testKeys(t *testing.T) *crypt.Keys {
	t.Helper()
	k, err := crypt.New("0123456789abcdef0123456789abcdef", "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoad(t *testing.T) {
	ctx := context.Background()
	d := testdb.Open(t)
	keys := testKeys(t)
	// Two counties loaded one after the other: the second continues the ids.
	var total Stats
	var calls int
	for _, county := range []string{"360704", "361128"} {
		opts := Options{Scale: 0.01, Seed: 1, Now: testNow, Regions: []string{county}, Progress: func(done, all int64) { calls++ }}
		st, err := Load(ctx, d, testdb.Tree(t), keys, opts)
		if err != nil {
			t.Fatal(err)
		}
		total.Households += st.Households
		total.Persons += st.Persons
		total.Supporters += st.Supporters
		total.BankAccounts += st.BankAccounts
		total.Incomes += st.Incomes
		total.Assets += st.Assets
		if st.Incomes < st.Persons/2 || st.Assets < st.Households/2 {
			t.Errorf("%s: %d incomes for %d persons, %d assets for %d households", county, st.Incomes, st.Persons, st.Assets, st.Households)
		}
	}
	if calls == 0 {
		t.Error("no progress reported")
	}
	// Loading a county again repeats its ID numbers: the load fails on the
	// unique index and takes back the households it had already added.
	if _, err := Load(ctx, d, testdb.Tree(t), keys, Options{Scale: 0.01, Seed: 1, Now: testNow, Regions: []string{"360704"}}); err == nil {
		t.Fatal("loading the same persons twice succeeded")
	}
	for table, want := range map[string]int64{"households": total.Households, "persons": total.Persons,
		"supporters": total.Supporters, "bank_accounts": total.BankAccounts, "person_incomes": total.Incomes, "household_assets": total.Assets} {
		var n, max int64
		if err := d.QueryRowContext(ctx, `SELECT COUNT(*), MAX(id) FROM `+table).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != want || max != want {
			t.Errorf("%s: %d rows, max id %d, want %d", table, n, max, want)
		}
	}
	var orphans int64
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM persons p JOIN households h ON h.id = p.household_id
		WHERE p.region_code <> h.region_code OR h.hh_no NOT LIKE h.region_code || '%'`).Scan(&orphans); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Errorf("%d persons outside their household's village", orphans)
	}

	// A generated person is found by the hash of the ID number, and the
	// encrypted copy opens to it.
	_, households := generate(t, Options{Scale: 0.01, Seed: 1, Now: testNow, Regions: []string{"361128"}})
	p := households[len(households)/2].Members[0]
	var name, enc string
	if err := d.QueryRowContext(ctx, `SELECT name, id_enc FROM persons WHERE id_hmac = $1 AND region_code LIKE $2 || '%'`,
		keys.Hash(p.IDNumber), "361128").Scan(&name, &enc); err != nil {
		t.Fatal(err)
	}
	if plain, err := keys.Open(enc); name != p.Name || err != nil || plain != p.IDNumber {
		t.Errorf("found %s (%v), want %s", name, err, p.Name)
	}

	// Ordinary inserts continue after the loaded ids.
	var id int64
	if err := d.QueryRowContext(ctx, `INSERT INTO households (hh_no, region_code, hukou, address, created_at, updated_at)
		VALUES ('36112800000099999', $1, 'rural', 'x', $2, $2) RETURNING id`, households[0].Region, testNow).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id != total.Households+1 {
		t.Errorf("next household id %d, want %d", id, total.Households+1)
	}
	// Incomes belong to persons of the same load and are findable per person.
	var strays int64
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM person_incomes i LEFT JOIN persons p ON p.id = i.person_id
		WHERE p.id IS NULL OR i.monthly_fen <= 0`).Scan(&strays); err != nil {
		t.Fatal(err)
	}
	if strays != 0 {
		t.Errorf("%d incomes without a person or amount", strays)
	}
	wantIncomes := len(p.Incomes)
	var gotIncomes int
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM person_incomes i JOIN persons p ON p.id = i.person_id WHERE p.id_hmac = $1`,
		keys.Hash(p.IDNumber)).Scan(&gotIncomes); err != nil {
		t.Fatal(err)
	}
	if gotIncomes != wantIncomes {
		t.Errorf("%s: %d incomes loaded, %d generated", p.Name, gotIncomes, wantIncomes)
	}
	if d.Dialect == db.Postgres {
		t.Logf("loaded %d rows on PostgreSQL", total.Rows())
	}
}
