package registry

import (
	"fmt"
	"strings"

	"github.com/xuri/excelize/v2"
)

// Template columns of the two-sheet layout the downloadable workbook uses.
var (
	templateHouseholdFields = []string{"household_no", "head_name", "hukou", "address", "household_phone", "village_code", "village_name"}
	templateMemberFields    = []string{"household_no", "name", "id_number", "relation", "sex", "birth_date", "phone", "disability_kind", "disability_level",
		"student", "co_resident", "able_to_work", "serious_illness", "self_care_failed"}
	// cells kept as text, so Excel does not turn long numbers into 3.4E+17
	templateTextFields = map[string]bool{"household_no": true, "village_code": true, "id_number": true, "phone": true, "household_phone": true, "birth_date": true}
)

// ImportTemplate builds the import template: the 户 and 成员 sheets with
// their headers and one example row (a household in the caller's first
// village, its head with the published example ID number, which an import
// refuses), and a 填写说明 sheet listing every accepted column.
func (s *Service) ImportTemplate(c Caller) ([]byte, error) {
	village, villageName := "360124100001", "岚湖社区"
	if vs := s.Tree.Villages(c.Actor().Region); len(vs) > 0 {
		village, villageName = vs[0].Code, villageKey(vs[0].Name)
	}
	example := map[string]string{
		"household_no": "1", "head_name": "张三", "hukou": "农村", "address": villageName + "1组12号", "household_phone": "",
		"village_code": village, "village_name": villageName,
		"name": "张三", "id_number": TemplateExampleID, "relation": "户主", "sex": "男", "birth_date": "1980-01-01", "phone": "",
		"disability_kind": "", "disability_level": "", "student": "非在校", "co_resident": "是", "able_to_work": "是", "serious_illness": "否", "self_care_failed": "",
	}
	f := excelize.NewFile()
	defer f.Close()
	head, err := f.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}, Fill: excelize.Fill{Type: "pattern", Pattern: 1, Color: []string{"DDEBF7"}},
		Alignment: &excelize.Alignment{WrapText: true, Vertical: "center"}})
	if err != nil {
		return nil, err
	}
	text, err := f.NewStyle(&excelize.Style{NumFmt: 49})
	if err != nil {
		return nil, err
	}
	wrap, err := f.NewStyle(&excelize.Style{Alignment: &excelize.Alignment{WrapText: true, Vertical: "top"}})
	if err != nil {
		return nil, err
	}
	sheet := func(name string, fields []string) error {
		if _, err := f.NewSheet(name); err != nil {
			return err
		}
		for j, field := range fields {
			col, _ := excelize.ColumnNumberToName(j + 1)
			width := 14.0
			switch field {
			case "id_number", "village_code", "address", "self_care_failed":
				width = 22
			}
			if err := f.SetColWidth(name, col, col, width); err != nil {
				return err
			}
			if templateTextFields[field] {
				if err := f.SetColStyle(name, col, text); err != nil {
					return err
				}
			}
			if err := f.SetCellStr(name, col+"1", columnByField(field).Label); err != nil {
				return err
			}
			if err := f.SetCellStr(name, col+"2", example[field]); err != nil {
				return err
			}
		}
		last, _ := excelize.ColumnNumberToName(len(fields))
		if err := f.SetCellStyle(name, "A1", last+"1", head); err != nil {
			return err
		}
		return f.SetPanes(name, &excelize.Panes{Freeze: true, YSplit: 1, TopLeftCell: "A2", ActivePane: "bottomLeft"})
	}
	if err := sheet("户", templateHouseholdFields); err != nil {
		return nil, err
	}
	if err := sheet("成员", templateMemberFields); err != nil {
		return nil, err
	}
	const help = "填写说明"
	if err := f.SetSheetName("Sheet1", help); err != nil {
		return nil, err
	}
	lines := [][]string{
		{"江西省社会救助综合信息平台 · 户籍登记导入模板"},
		{"1. “户”工作表每行一户，“成员”工作表每行一人（含户主），两表用“户编号”对应；每户有且只有一位“与户主关系”为户主的成员。"},
		{"2. 也可以只用一个工作表（或 CSV 文件，UTF-8 或 GBK 编码）：每行一人，用“户编号”把同一户的人连在一起，户籍性质、家庭住址、所属村（社区）等户信息填在每一行或只填在户主所在行。"},
		{"3. 第2行是示例，导入前请删除；身份证号、代码、电话等列请保持“文本”格式。"},
		{"4. 整个文件校验通过才能导入：有任何一处问题，整份文件都不导入，并列出每个问题所在的工作表、行和列。上传后先预览，确认后才写入。"},
		{"5. 已在其他户登记的人员不能再导入（一人只能属于一户）；只能导入您管辖范围内的村（社区）。"},
		{},
		{"列名", "英文列名", "也可以写作", "是否必填", "填写要求"},
	}
	for _, c := range ImportColumns {
		lines = append(lines, []string{c.Label, c.Field, strings.Join(c.Aliases, "、"), c.Required, c.Help})
	}
	for i, line := range lines {
		for j, v := range line {
			col, _ := excelize.ColumnNumberToName(j + 1)
			if err := f.SetCellStr(help, fmt.Sprintf("%s%d", col, i+1), v); err != nil {
				return nil, err
			}
		}
	}
	if err := f.SetCellStyle(help, "A8", "E8", head); err != nil {
		return nil, err
	}
	if err := f.SetCellStyle(help, "A9", fmt.Sprintf("E%d", len(lines)), wrap); err != nil {
		return nil, err
	}
	for col, w := range map[string]float64{"A": 18, "B": 18, "C": 36, "D": 16, "E": 70} {
		if err := f.SetColWidth(help, col, col, w); err != nil {
			return nil, err
		}
	}
	f.SetActiveSheet(1) // 户
	buf, err := f.WriteToBuffer()
	if err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
