package online

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"jiuzhu/internal/apperr"
)

// Upload limits.
const (
	MaxFiles    = 5
	MaxFileSize = 5 << 20
	maxField    = 16 << 10
	maxBody     = MaxFiles*(MaxFileSize+(64<<10)) + (1 << 20)
)

// File is one uploaded document, its type found by content sniffing.
type File struct {
	Name string // as the browser sent it; shown in error messages only
	Type string
	Data []byte
}

// allowedTypes are what http.DetectContentType may say about an accepted file.
var allowedTypes = map[string]string{"image/jpeg": "JPG", "image/png": "PNG", "image/webp": "WEBP", "application/pdf": "PDF"}

// FileField is the form field that carries documents.
const FileField = "files"

// ReadForm reads a multipart form as it streams in: the text fields (each at
// most 16 KB) and up to MaxFiles documents of at most MaxFileSize, each checked
// by its content, not by its name. The text fields are returned even when a
// file is refused, so the page can keep what was typed.
func ReadForm(w http.ResponseWriter, r *http.Request) (url.Values, []File, error) {
	vals := url.Values{}
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	mr, err := r.MultipartReader()
	if err != nil {
		return vals, nil, apperr.Invalid(FileField, "not_multipart", "提交方式不正确：请通过申请页面提交（表单须为 multipart/form-data 格式）")
	}
	var files []File
	var fileErr error
	n := 0
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return vals, nil, bodyError(err)
		}
		name := p.FormName()
		if name != FileField {
			b, err := io.ReadAll(io.LimitReader(p, maxField+1))
			p.Close()
			if err != nil {
				return vals, nil, bodyError(err)
			}
			if len(b) > maxField {
				return vals, nil, apperr.Invalid(name, "too_long", "填写的内容过长")
			}
			vals.Add(name, string(b))
			continue
		}
		data, err := io.ReadAll(io.LimitReader(p, MaxFileSize+1))
		if err != nil {
			p.Close()
			return vals, nil, bodyError(err)
		}
		if len(data) > MaxFileSize {
			// read the rest so the following fields still arrive
			if _, err := io.Copy(io.Discard, p); err != nil {
				p.Close()
				return vals, nil, bodyError(err)
			}
		}
		p.Close()
		if len(data) == 0 && p.FileName() == "" {
			continue // an empty file input
		}
		n++
		label := fmt.Sprintf("第%d个文件", n)
		if fn := strings.TrimSpace(p.FileName()); fn != "" {
			label += "“" + fn + "”"
		}
		switch {
		case fileErr != nil:
		case n > MaxFiles:
			fileErr = apperr.Invalid(FileField, "too_many_files", "最多上传"+strconv.Itoa(MaxFiles)+"个文件，请合并或删减后重新选择")
		case len(data) == 0:
			fileErr = apperr.Invalid(FileField, "empty_file", label+"是空文件，请重新选择")
		case len(data) > MaxFileSize:
			fileErr = apperr.Invalid(FileField, "file_too_large", label+"超过5MB，请压缩或拍照时降低分辨率后重新选择")
		default:
			typ := http.DetectContentType(data)
			if _, ok := allowedTypes[typ]; !ok {
				fileErr = apperr.Invalid(FileField, "file_type", label+"不是图片（JPG、PNG、WEBP）或PDF文件；手机照片如为HEIC格式，请在相机设置中改为“兼容性最佳”后重新拍摄")
				break
			}
			files = append(files, File{Name: p.FileName(), Type: typ, Data: data})
		}
	}
	if fileErr != nil {
		return vals, nil, fileErr
	}
	return vals, files, nil
}

func bodyError(err error) error {
	var mb *http.MaxBytesError
	if errors.As(err, &mb) {
		return &apperr.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Field: FileField,
			Message: "提交的内容过大：最多" + strconv.Itoa(MaxFiles) + "个文件，每个不超过5MB", Err: err}
	}
	return apperr.Invalid(FileField, "malformed_form", "提交的内容不完整（可能网络中断），请重新提交")
}

// FromValues reads a submission's text fields.
func FromValues(v url.Values, files []File) Submission {
	members, _ := strconv.Atoi(strings.TrimSpace(v.Get("members")))
	return Submission{Region: strings.TrimSpace(v.Get("region")), Programme: v.Get("programme"), Kind: v.Get("kind"), Name: v.Get("name"),
		IDNumber: v.Get("id_number"), Phone: v.Get("phone"), Members: members, Statement: v.Get("statement"),
		Pledge: v.Get("pledge") != "", Consent: v.Get("consent") != "", Files: files}
}
