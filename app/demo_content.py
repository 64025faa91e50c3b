"""Demo announcements and notifications (called by the demo loader after load_demo_data();
does nothing when announcements exist)."""

from __future__ import annotations

import datetime

from app.extensions import db
from app.models.content import Announcement
from app.models.identity import AppUser
from app.models.org import Authority, Sector

FILING_NOTICE = """各地级以上市交通运输局，各小微型客车租赁经营者：

根据《小微型客车租赁经营服务管理办法》，从事小微型客车租赁经营的，应当在取得营业执照后60日内向所在地县级以上道路运输管理机构办理备案。为做好我省小微型客车租赁经营备案工作，现将有关事项通知如下：

一、备案范围。在我省行政区域内从事小微型客车租赁经营（含分时租赁）的企业法人及其分支机构，均应通过本平台办理经营备案和车辆备案。

二、备案材料。经营者应在线填报企业名称、统一社会信用代码、经营场所、服务电话、租赁车辆及停车场地等信息，并上传营业执照、经营场所证明材料和服务承诺书。

三、办理时限。材料齐全、符合要求的，备案机构自受理之日起5个工作日内完成备案并发放备案证明；材料不全的，一次性告知需补正的全部内容。

四、变更与注销。备案事项发生变化的，经营者应在变化之日起15日内办理变更备案；暂停或者终止经营的，应在暂停或终止之日前15日内报告。

请各经营者于本通知发布之日起3个月内完成存量车辆备案。联系电话：020-12345678。"""

TIME_SHARE_NOTICE = """<p>各分时租赁经营者：</p>
<p>为保障承租人合法权益，现就分时租赁经营者<strong>暂停或终止经营的公告要求</strong>通知如下：</p>
<ol>
<li>分时租赁经营者暂停或者终止经营的，应当<strong>提前30日</strong>向社会公告，说明暂停或终止的原因、时间以及押金、预付费用的退还办法。</li>
<li>公告应当通过经营者的网站、移动互联网应用程序首页及主要经营场所的显著位置发布，公告期内不得拒绝承租人的退款申请。</li>
<li>经营者应当在暂停或终止经营前15日内，通过本平台向备案机构提交暂停或终止经营申请，并上传公告材料。</li>
</ol>
<p>未按要求公告的，备案机构将不予办理暂停或终止手续，并依法纳入信用记录。</p>"""

VEHICLE_FAQ = """<h4>问：哪些车辆需要办理备案？</h4>
<p>答：用于小微型客车租赁经营的7座及以下乘用车，均应在投入经营前办理车辆备案。</p>
<h4>问：车辆备案需要提供哪些信息？</h4>
<p>答：号牌号码、车辆识别代号（VIN）、品牌型号、座位数、车身颜色、行驶证登记日期和车辆所有人名称。车辆所有人须为备案经营者本身。</p>
<h4>问：车辆号牌或颜色变更后怎么办？</h4>
<p>答：在“车辆管理”中选择该车辆，发起“车辆变更”，审核通过后备案信息随之更新，原备案证明编号不变。</p>
<h4>问：车辆报废或转让后如何处理？</h4>
<p>答：应在报废或转让之日起15日内发起“车辆报废”或“车辆终止经营”申请，审核通过后该车辆不再显示为经营状态。</p>
<h4>问：审核未通过怎么办？</h4>
<p>答：在“我的待办”中查看退回意见，按意见修改后重新提交即可。</p>"""

FILING_GUIDE = """<p>本指南适用于在我省办理小微型客车租赁经营备案的企业。</p>
<table>
<thead><tr><th>事项</th><th>办理材料</th><th>承诺时限</th></tr></thead>
<tbody>
<tr><td>经营备案</td><td>营业执照、经营场所证明、服务承诺书</td><td>5个工作日</td></tr>
<tr><td>备案变更</td><td>变更事项证明材料</td><td>5个工作日</td></tr>
<tr><td>车辆备案</td><td>机动车行驶证</td><td>3个工作日</td></tr>
<tr><td>暂停/终止经营</td><td>情况说明；分时租赁另附社会公告</td><td>5个工作日</td></tr>
</tbody>
</table>
<p>办理渠道：登录本平台在线办理，或携带材料到所在地道路运输管理机构窗口办理（窗口代录）。</p>"""

PLATFORM_NOTICE = """各企业用户：

监管服务平台已统一启用账号密码加图形验证码登录。企业管理员可在“系统管理—用户”中为本企业员工创建账号、分配角色；员工首次登录须修改初始密码。

监管部门和系统管理员账号须启用双因素认证（动态口令）。企业用户可在“双因素认证”页面自愿启用，以提高账号安全性。

如遇登录问题，请联系平台运维服务电话：400-000-0000（工作日 9:00—17:30）。"""

ACCOUNT_GUIDE = """\
一、首次登录：使用备案通过后发放的账号（统一社会信用代码）和初始密码登录，按提示修改密码。密码至少8位，须同时包含大写字母、小写字母和数字。

二、忘记密码：在登录页点击“忘记密码”，输入用户名，按邮件中的链接重设密码，链接30分钟内有效。

三、双因素认证：使用手机上的身份验证器应用扫描二维码完成绑定，并妥善保存恢复码。"""

USEDCAR_POLICY = """各二手车交易市场、经营主体：

根据二手车流通管理有关规定，二手车交易市场经营者、二手车经营主体应当自取得营业执照之日起2个月内，向所在地商务主管部门备案。备案信息发生变更的，应当自变更之日起1个月内办理变更备案。

请各经营主体通过本平台“企业备案”功能提交备案信息，商务主管部门将在线完成确认。"""

NEWS = """\
近日，省交通运输厅组织召开全省汽车租赁行业监管工作座谈会，各地级以上市交通运输主管部门和部分租赁企业代表参加会议。

会议通报了全省小微型客车租赁经营备案和车辆备案进展情况，要求各地依托监管服务平台加强事中事后监管，及时处理逾期未审核的备案申请，做到“应备尽备”。

企业代表就分时租赁押金管理、车辆异地还车等问题进行了交流。"""

DRAFT = """\
为规范汽车租赁市场秩序，拟于下半年开展“双随机、一公开”检查，随机抽取备案经营者，重点检查备案信息真实性、车辆技术状况和服务承诺履行情况。（草案，待审定）"""

ANNOUNCEMENTS = [
    # title, category, sector code, authority name (None: platform), days ago (None: draft),
    # pinned, body
    ("关于开展小微型客车租赁经营备案工作的通知", "notice", "rental", "广东省交通运输厅", 30,
     True, FILING_NOTICE),
    ("关于分时租赁经营者暂停或终止经营公告要求的通知", "notice", "rental",
     "广东省交通运输厅", 12, False, TIME_SHARE_NOTICE),
    ("车辆备案常见问题解答", "faq", "rental", "广东省交通运输厅", 20, False, VEHICLE_FAQ),
    ("小微型客车租赁经营备案办事指南", "guide", "rental", "广东省交通运输厅", 28, False,
     FILING_GUIDE),
    ("关于监管服务平台启用统一身份认证的通知", "notice", None, None, 40, True,
     PLATFORM_NOTICE),
    ("平台账号、密码与双因素认证使用指南", "guide", None, None, 38, False, ACCOUNT_GUIDE),
    ("二手车流通企业备案须知", "policy", "usedcar", "广州市商务局", 15, False, USEDCAR_POLICY),
    ("省交通运输厅召开汽车租赁行业监管工作座谈会", "news", "rental", "广东省交通运输厅", 5,
     False, NEWS),
    ("汽车租赁行业“双随机、一公开”检查计划（草案）", "notice", "rental", "广东省交通运输厅",
     None, False, DRAFT),
]

WELCOME = [
    # username, title, body, link
    ("ent.a", "欢迎使用监管服务平台",
     "您的企业已开通平台账号。请先阅读《小微型客车租赁经营备案办事指南》，再办理车辆备案。",
     "/announcements/"),
    ("ent.b", "欢迎使用监管服务平台", "您的企业已开通平台账号。", "/announcements/"),
    ("reg.rental", "待审核事项提醒",
     "请及时处理辖区内待审核的备案申请，逾期事项将在工作台标红显示。", "/inbox/"),
]


def load_content_demo(today: datetime.date | None = None) -> None:
    """Announcements in several categories and a few notifications; idempotent."""
    from app.services.notify import notify

    if db.session.query(Announcement.id).first() is not None:
        return
    today = today or datetime.date.today()
    sectors = {s.code: s for s in db.session.query(Sector)}
    authorities = {a.name: a for a in db.session.query(Authority)}
    users = {u.username: u for u in db.session.query(AppUser)}
    admin = users.get("admin")
    for title, category, sector, authority, days_ago, pinned, body in ANNOUNCEMENTS:
        auth = authorities.get(authority) if authority else None
        publisher = None
        if auth is not None:
            publisher = next((u for u in users.values() if u.authority_id == auth.id), None)
        db.session.add(Announcement(
            title=title, category=category, body=body,
            sector_id=sectors[sector].id if sector else None,
            authority_id=auth.id if auth is not None else None,
            publisher_name=auth.name if auth is not None else None,
            published_on=None if days_ago is None else today - datetime.timedelta(days=days_ago),
            pinned=pinned, created_by_id=(publisher or admin).id if (publisher or admin) else None,
        ))
    for username, title, body, link in WELCOME:
        if username in users:
            notify(users[username], title, body, link)
    db.session.commit()


__all__ = ["ANNOUNCEMENTS", "load_content_demo"]
