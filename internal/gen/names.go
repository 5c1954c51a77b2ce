package gen

import (
	"math/rand/v2"
	"strings"
)

// Common surnames, roughly in order of frequency in Jiangxi; the draw weighs
// them by rank.
var surnames = strings.Fields(`刘 李 王 陈 张 黄 胡 徐 罗 吴 杨 周 万 曾 熊 邓 肖 钟 彭 赖
	谢 朱 余 温 郭 何 龚 程 邹 廖 涂 付 汪 袁 蔡 江 吕 魏 聂 游
	章 戴 宋 唐 叶 邱 舒 饶 孙 冯 杜 卢 许 高 姚 潘 梁 陶 傅 夏
	林 蒋 钱 雷 兰 邬 甘 简 易 颜 危 段 丁 欧阳 沈 石 文 邵 范 毛`)

var surnameCum = func() []float64 {
	cum := make([]float64, len(surnames))
	total := 0.0
	for i := range surnames {
		total += 1 / float64(i+4)
		cum[i] = total
	}
	for i := range cum {
		cum[i] /= total
	}
	return cum
}()

func surname(rng *rand.Rand) string {
	u := rng.Float64()
	for i, c := range surnameCum {
		if u < c {
			return surnames[i]
		}
	}
	return surnames[len(surnames)-1]
}

// Characters of given names change with the generation; three eras per sex.
var givenChars = map[bool][3][]string{
	true: {
		strings.Fields("根 福 财 发 水 生 金 保 长 贵 德 松 炳 火 茂 有 庆 全 清 仁"),
		strings.Fields("建 国 华 明 军 伟 强 平 勇 林 斌 杰 涛 峰 辉 海 波 鹏 刚 文 志 东 亮 春 新"),
		strings.Fields("俊 磊 超 浩 宇 轩 博 睿 泽 子 然 豪 晨 航 逸 鑫 昊 哲 凯 宸 煜 铭"),
	},
	false: {
		strings.Fields("秀 英 兰 桂 凤 珍 花 梅 莲 菊 香 娥 玉 春 冬 金 银 彩 满 招"),
		strings.Fields("丽 娟 敏 静 燕 艳 霞 芳 红 琴 萍 玲 华 慧 莉 丹 青 婷 洁 梅"),
		strings.Fields("婷 雪 欣 怡 涵 萱 梓 雨 诗 佳 琪 悦 馨 彤 妍 可 思 璐 晴 瑶 若"),
	},
}

// givenName draws one or two characters fitting the birth year.
func givenName(rng *rand.Rand, birthYear int, male bool) string {
	era := 2
	switch {
	case birthYear < 1960:
		era = 0
	case birthYear < 1990:
		era = 1
	}
	chars := givenChars[male][era]
	name := chars[rng.IntN(len(chars))]
	if rng.Float64() < 0.7 {
		name += chars[rng.IntN(len(chars))]
	}
	return name
}

// Mobile prefixes of the three carriers.
var mobilePrefixes = strings.Fields(`134 135 136 137 138 139 147 150 151 152 157 158 159 178 182 183 184 187 188 198
	130 131 132 155 156 166 175 176 185 186 133 149 153 173 177 180 181 189 191 199`)

func mobile(rng *rand.Rand) string {
	var b strings.Builder
	b.WriteString(mobilePrefixes[rng.IntN(len(mobilePrefixes))])
	for range 8 {
		b.WriteByte(byte('0' + rng.IntN(10)))
	}
	return b.String()
}

// Where supporters work: mostly the coastal provinces, some in Jiangxi's cities.
var workPlaces = strings.Fields(`广东省东莞市长安镇 广东省深圳市宝安区 广东省广州市白云区 广东省佛山市顺德区 浙江省义乌市
	浙江省宁波市鄞州区 浙江省温州市瓯海区 福建省晋江市 福建省厦门市湖里区 上海市闵行区 江苏省苏州市吴中区
	江西省南昌市青山湖区 江西省南昌市红谷滩区 江西省赣州市章贡区 江西省九江市濂溪区 江西省上饶市信州区`)

var roads = strings.Fields("人民路 解放路 建设路 中山路 胜利路 新华路 工业大道 创业路 和平路 文化路 迎宾大道 长江路")
