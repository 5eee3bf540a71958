module matrix-do/test/rtc-auth-stand-in

go 1.26
