"""The device shell against the outputs in ../shared/reference/android-adb.md section 3."""

from __future__ import annotations

import pytest

from virtual_device import VirtualDevice
from virtual_device.apk import build_apk
from virtual_device.scenarios import apply
from virtual_device.shell import Shell

AGENT = "uk.police.tabard.agent"
ADMIN = f"{AGENT}/.AdminReceiver"


def device(
    model: str = "SM-J530F", android: str | None = None, scenario: str = "factory-fresh"
) -> VirtualDevice:
    return apply(VirtualDevice.create(model, android=android, seed=11), scenario)


def sh(target: VirtualDevice, line: str) -> tuple[int, str, str]:
    result = Shell(target).run(line)
    return result.exit_code, result.stdout.decode(), result.stderr.decode()


def install_agent(target: VirtualDevice) -> None:
    target.fs.write(
        "/data/local/tmp/agent.apk",
        build_apk(AGENT, admin_receivers=(".AdminReceiver",)),
        mode=0o644,
        mtime=1,
    )
    assert sh(target, "pm install -r /data/local/tmp/agent.apk")[1] == "Success\n"


class TestShellLanguage:
    @pytest.mark.parametrize(
        ("line", "out", "status"),
        [
            ("echo a; false; echo $?", "a\n1\n", 0),
            ("false && echo no || echo yes", "yes\n", 0),
            ("true && echo yes; echo __RC=$?", "yes\n__RC=0\n", 0),
            ("echo 'single $? stays' \"double $?\"", "single $? stays double 0\n", 0),
            ('echo a\\ b "c\\"d"', 'a b c"d\n', 0),
            ("echo one # a comment", "one\n", 0),
            ("getprop ro.product.model | grep SM", "SM-J530F\n", 0),
            ("pm list users | wc -l", "2\n", 0),
            ("exit 3; echo never", "", 3),
            ("false; exit; echo never", "", 1),
        ],
    )
    def test_lists_quotes_pipes_and_status(self, line: str, out: str, status: int) -> None:
        code, stdout, _ = sh(device(), line)
        assert (stdout, code) == (out, status)

    def test_an_unknown_command_is_not_found_with_status_127(self) -> None:
        assert sh(device(), "frobnicate --now") == (
            127,
            "",
            "/system/bin/sh: frobnicate: not found\n",
        )

    def test_redirections_to_files_and_to_null(self) -> None:
        target = device()
        _, out, err = sh(
            target,
            "echo hi > /sdcard/x; echo there >> /sdcard/x; nosuch 2>/dev/null; cat /sdcard/x",
        )
        assert (out, err) == ("hi\nthere\n", "")
        assert sh(target, "nosuch 2>&1")[1] == "/system/bin/sh: nosuch: not found\n"
        assert (
            "can't create /system/x: Read-only file system" in sh(target, "echo x > /system/x")[2]
        )

    @pytest.mark.parametrize(
        "line",
        ["echo `id`", "echo $(id)", "sleep 1 &", "(echo a)", "echo 'unterminated", "&& echo"],
    )
    def test_unsupported_or_broken_syntax_is_refused_clearly(self, line: str) -> None:
        code, out, err = sh(device(), line)
        assert code == 2 and out == ""
        assert err.startswith("/system/bin/sh: ")


class TestProperties:
    def test_getprop_values_and_listing(self) -> None:
        target = device("SM-J510FN")
        assert sh(target, "getprop ro.build.version.release")[1] == "7.1.1\n"
        assert sh(target, "getprop ro.build.version.sdk")[1] == "25\n"
        assert sh(target, "getprop no.such.prop")[1] == "\n"
        assert "[ro.product.model]: [SM-J510FN]\n" in sh(target, "getprop")[1]

    def test_settings_get_put_list_and_null(self) -> None:
        target = device()
        assert sh(target, "settings get global adb_enabled")[1] == "1\n"
        assert sh(target, "settings get secure nothing_here")[1] == "null\n"
        assert sh(target, "settings put global stay_on_while_plugged_in 3") == (0, "", "")
        assert "stay_on_while_plugged_in=3\n" in sh(target, "settings list global")[1]
        assert sh(target, "settings get nonsense x")[0] == 1

    @pytest.mark.parametrize(
        ("model", "size", "density"),
        [("SM-J530F", "720x1280", "320"), ("SM-T580", "1920x1200", "240")],
    )
    def test_screen_size_and_density(self, model: str, size: str, density: str) -> None:
        target = device(model)
        assert sh(target, "wm size")[1] == f"Physical size: {size}\n"
        assert sh(target, "wm density")[1] == f"Physical density: {density}\n"

    def test_input_and_svc_are_silent(self) -> None:
        target = device()
        for line in (
            "input keyevent 26",
            "input tap 10 20",
            "svc wifi disable",
            "svc power stayon usb",
        ):
            assert sh(target, line) == (0, "", "")
        assert target.setting("global", "wifi_on") == "0"


class TestPackages:
    def test_list_packages_plain_full_and_third_party(self) -> None:
        target = device()
        install_agent(target)
        assert "package:com.android.settings\n" in sh(target, "pm list packages")[1]
        assert sh(target, "pm list packages -3")[1] == f"package:{AGENT}\n"
        assert sh(target, f"pm list packages -f {AGENT}")[1] == (
            f"package:/data/app/{AGENT}-1/base.apk={AGENT}\n"
        )

    def test_install_refuses_a_reinstall_without_r_and_a_non_apk(self) -> None:
        target = device()
        install_agent(target)
        code, out, _ = sh(target, "pm install /data/local/tmp/agent.apk")
        assert out.startswith("Failure [INSTALL_FAILED_ALREADY_EXISTS: ") and code == 1
        target.fs.write("/data/local/tmp/junk.apk", b"not a zip", mode=0o644, mtime=1)
        assert sh(target, "pm install /data/local/tmp/junk.apk")[1].startswith(
            "Failure [INSTALL_PARSE_FAILED_NOT_APK"
        )
        assert (
            "Unable to open file: /data/local/tmp/none.apk"
            in sh(target, "pm install /data/local/tmp/none.apk")[2]
        )

    def test_install_existing_into_a_profile(self) -> None:
        target = device()
        sh(target, "pm create-user --profileOf 0 --managed Work")
        assert sh(target, "pm install-existing --user 10 com.android.chrome")[1] == (
            "Package com.android.chrome installed for user: 10\n"
        )
        assert sh(target, "pm install-existing --user 10 no.such.pkg")[1] == (
            "android.content.pm.PackageManager$NameNotFoundException: "
            "Package no.such.pkg doesn't exist\n"
        )

    def test_disable_hide_and_uninstall(self) -> None:
        target = device()
        assert sh(target, "pm disable-user --user 0 com.android.chrome")[1] == (
            "Package com.android.chrome new state: disabled-user\n"
        )
        assert "package:com.android.chrome\n" in sh(target, "pm list packages -d")[1]
        assert sh(target, "pm hide --user 0 com.android.chrome")[1] == (
            "Package com.android.chrome new hidden state: true\n"
        )
        assert sh(target, "pm uninstall com.android.chrome")[1] == (
            "Failure [DELETE_FAILED_INTERNAL_ERROR]\n"
        )
        assert sh(target, "pm uninstall --user 0 com.android.chrome")[1] == "Success\n"

    def test_the_device_owner_cannot_be_uninstalled(self) -> None:
        target = device()
        install_agent(target)
        sh(target, f"dpm set-device-owner {ADMIN}")
        assert sh(target, f"pm uninstall {AGENT}")[1] == (
            "Failure [DELETE_FAILED_DEVICE_POLICY_MANAGER]\n"
        )


class TestUsers:
    def test_a_managed_profile_is_created_stopped_then_started(self) -> None:
        target = device()
        assert sh(target, "pm create-user --profileOf 0 --managed Work")[1] == (
            "Success: created user id 10\n"
        )
        assert sh(target, "pm list users")[1] == (
            "Users:\n\tUserInfo{0:Owner:c13} running\n\tUserInfo{10:Work:30}\n"
        )
        assert sh(target, "am start-user 10")[1] == "Success: user started\n"
        assert "\tUserInfo{10:Work:30} running\n" in sh(target, "pm list users")[1]
        assert sh(target, "pm create-user --profileOf 0 --managed Second")[2] == (
            "Error: couldn't create User.\n"
        )
        assert sh(target, "am stop-user -w 10") == (0, "", "")
        assert sh(target, "pm remove-user 10")[1] == "Success: removed user\n"
        assert sh(target, "pm remove-user 10")[2] == "Error: couldn't remove user id 10\n"

    @pytest.mark.parametrize(
        ("model", "android", "allowed"),
        [
            ("SM-J530F", None, False),
            ("SM-J510FN", None, False),
            ("SM-T580", None, True),
            ("SM-J530F", "9", True),
        ],
    )
    def test_a_work_profile_beside_a_device_owner_needs_android_8(
        self, model: str, android: str | None, allowed: bool
    ) -> None:
        target = device(model, android)
        install_agent(target)
        sh(target, f"dpm set-device-owner {ADMIN}")
        out = sh(target, "pm create-user --profileOf 0 --managed Work")
        assert out[0] == (0 if allowed else 1)

    def test_samsung_extra_users_are_listed(self) -> None:
        listing = sh(device(scenario="secure-folder"), "pm list users")[1]
        assert "\tUserInfo{150:Secure Folder:" in listing

    def test_stopping_the_system_user_is_refused(self) -> None:
        assert sh(device(), "am stop-user 0")[2].startswith("Switch failed: -3")


class TestDeviceOwner:
    def test_success_prints_both_lines(self) -> None:
        target = device()
        install_agent(target)
        assert sh(target, f"dpm set-device-owner {ADMIN}")[1] == (
            f"Success: Device owner set to package ComponentInfo{{{AGENT}/{AGENT}.AdminReceiver}}\n"
            f"Active admin set to component {{{AGENT}/{AGENT}.AdminReceiver}}\n"
        )

    @pytest.mark.parametrize(
        ("scenario", "message"),
        [
            (
                "google-account",
                "Not allowed to set the device owner because there are already "
                "some accounts on the device",
            ),
            (
                "secure-folder",
                "Not allowed to set the device owner because there are already "
                "several users on the device",
            ),
            (
                "dual-messenger",
                "Not allowed to set the device owner because there are already "
                "several users on the device",
            ),
        ],
    )
    def test_refusals_as_android_words_them(self, scenario: str, message: str) -> None:
        target = device(scenario=scenario)
        install_agent(target)
        code, out, err = sh(target, f"dpm set-device-owner {ADMIN}")
        assert code != 0 and out == ""
        assert err.startswith(f"java.lang.IllegalStateException: {message}\n\tat ")

    def test_a_second_device_owner_is_refused(self) -> None:
        target = device()
        install_agent(target)
        sh(target, f"dpm set-device-owner {ADMIN}")
        assert "device owner is already set" in sh(target, f"dpm set-device-owner {ADMIN}")[2]

    def test_an_unknown_admin_shows_usage_and_the_error(self) -> None:
        code, _, err = sh(device(), "dpm set-device-owner com.example/.Nope")
        assert code == 1
        assert err.startswith("usage: dpm [subcommand] [options]\n")
        assert err.endswith("Error: Unknown admin: ComponentInfo{com.example/com.example.Nope}\n")

    def test_a_profile_owner_needs_the_dpc_in_that_profile(self) -> None:
        target = device()
        install_agent(target)
        sh(target, "pm create-user --profileOf 0 --managed Work")
        assert "Unknown admin" in sh(target, f"dpm set-profile-owner --user 10 {ADMIN}")[2]
        sh(target, f"pm install-existing --user 10 {AGENT}")
        assert sh(target, f"dpm set-profile-owner --user 10 {ADMIN}")[1] == (
            f"Success: Active admin and profile owner set to {{{AGENT}/{AGENT}.AdminReceiver}} "
            "for user 10\n"
        )

    def test_dumpsys_device_policy_shows_owners_and_admins(self) -> None:
        target = device("SM-T580")
        install_agent(target)
        sh(target, f"dpm set-device-owner {ADMIN}")
        sh(target, "pm create-user --profileOf 0 --managed Work")
        sh(target, f"pm install-existing --user 10 {AGENT}")
        sh(target, f"dpm set-profile-owner --user 10 {ADMIN}")
        out = sh(target, "dumpsys device_policy")[1]
        assert out.startswith(
            "Current Device Policy Manager state:\n  Device Owner: \n"
            f"    admin=ComponentInfo{{{AGENT}/{AGENT}.AdminReceiver}}\n"
        )
        assert "  Profile Owner (User 10): \n" in out
        admins = "  Enabled Device Admins (User 0, provisioningState: 3):\n"
        assert f"{admins}    {AGENT}/.AdminReceiver:\n" in out


class TestBroadcasts:
    def test_a_broadcast_is_described_and_kept_for_the_agent(self) -> None:
        target = device()
        out = sh(
            target,
            f"am broadcast -a uk.police.tabard.ENROL -n {AGENT}/.Enrol --es payload '{{\"a\":1}}'",
        )[1]
        assert out == (
            f"Broadcasting: Intent {{ act=uk.police.tabard.ENROL flg=0x400000 "
            f"cmp={AGENT}/.Enrol (has extras) }}\nBroadcast completed: result=0\n"
        )
        assert target.broadcasts[-1].extras == {"payload": '{"a":1}'}

    def test_master_clear_is_denied_to_the_shell(self) -> None:
        target = device()
        code, _, err = sh(target, "am broadcast -a android.intent.action.MASTER_CLEAR")
        assert code != 0 and "Permission Denial" in err
        assert target.users and not target.broadcasts


class TestFiles:
    def test_ls_rm_mkdir_and_their_errors(self) -> None:
        target = device()
        assert sh(target, "mkdir -p /data/local/tmp/a/b && ls /data/local/tmp/a")[1] == "b\n"
        assert sh(target, "ls /data/local/tmp/none")[2] == (
            "ls: /data/local/tmp/none: No such file or directory\n"
        )
        assert sh(target, "rm /data/local/tmp/none")[0] == 1
        assert sh(target, "rm -f /data/local/tmp/none")[0] == 0
        assert sh(target, "rm -r /data/local/tmp/a && ls /data/local/tmp")[1] == ""
        assert sh(target, "mkdir /system/x")[2] == "mkdir: '/system/x': Read-only file system\n"


class TestManagedScenarioPackages:
    def test_its_apps_carry_the_test_key_so_a_newer_agent_updates_and_a_foreign_one_does_not(
        self,
    ) -> None:
        from virtual_device.apk import test_signer

        target = device(scenario="managed")
        assert target.packages[AGENT].signer_sha256 == test_signer().certificate_sha256
        for version, signer, expected in [
            (2, test_signer(), "Success\n"),
            (3, test_signer("elsewhere"), "Failure [INSTALL_FAILED_UPDATE_INCOMPATIBLE: "),
        ]:
            apk = build_apk(AGENT, version_code=version, admin_receivers=(".Admin",), signer=signer)
            target.fs.write("/data/local/tmp/a.apk", apk, mode=0o644, mtime=1)
            assert sh(target, "pm install -r /data/local/tmp/a.apk")[1].startswith(expected)
        assert target.packages[AGENT].version_code == 2


class TestDataSpace:
    def test_installing_takes_space_on_data_and_uninstalling_gives_it_back(self) -> None:
        target = device()
        free = target.data_free
        apk = build_apk("uk.police.big", padding=1024 * 1024)
        target.fs.write("/data/local/tmp/big.apk", apk, mode=0o644, mtime=1)
        assert sh(target, "pm install /data/local/tmp/big.apk")[1] == "Success\n"
        assert target.data_free == free - len(apk)
        available_k = int(sh(target, "df /data")[1].splitlines()[1].split()[3])
        assert available_k == target.data_free // 1024
        assert sh(target, "pm uninstall uk.police.big")[1] == "Success\n"
        assert target.data_free == free
