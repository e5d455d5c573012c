# Debian package of the agent: `cpack -G DEB` in a build directory (see
# scripts/package.sh). Included at the end of the root CMakeLists.txt, after
# the `resec` target and its install(TARGETS) rule exist.
#
#   /usr/bin/resec                      the binary (stripped)
#   /lib/systemd/system/resec.service   examples/systemd/resec.service, verbatim
#   /etc/default/resec                  examples/systemd/resec.env (a conffile)
#   /usr/share/man/man1/resec.1.gz      help2man from --help + packaging/resec.h2m
#
# Runtime dependencies are computed by dpkg-shlibdeps from the binary, so they
# follow whatever the build linked (libhiredis0.14, libcpp-httplib0.11, ...).

set(RESEC_PACKAGING_DIR ${CMAKE_CURRENT_LIST_DIR})

install(FILES ${CMAKE_SOURCE_DIR}/examples/systemd/resec.service DESTINATION /lib/systemd/system
        PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
# Readable by root only: operators put CONSUL_HTTP_TOKEN and REDIS_PASSWORD here.
install(FILES ${CMAKE_SOURCE_DIR}/examples/systemd/resec.env DESTINATION /etc/default RENAME resec
        PERMISSIONS OWNER_READ OWNER_WRITE)

# The man page is generated from the binary's own --help, so it never drifts
# from the flags; the sections --help lacks come from resec.h2m.
# Sanitizer builds are never packaged, and running their binary at build time
# would make a sanitizer report at exit fail the build.
find_program(HELP2MAN_PROGRAM help2man)
find_program(GZIP_PROGRAM gzip)
if(HELP2MAN_PROGRAM AND GZIP_PROGRAM AND RESEC_SANITIZE STREQUAL "")
  set(RESEC_MAN_PAGE ${CMAKE_BINARY_DIR}/resec.1)
  add_custom_command(
    OUTPUT ${RESEC_MAN_PAGE}.gz
    # A clean environment: --help is static, but ParseConfig never needs to see
    # the builder's variables.
    COMMAND ${CMAKE_COMMAND} -E env --unset=CONSUL_HTTP_TOKEN --unset=REDIS_PASSWORD
            ${HELP2MAN_PROGRAM} --no-info --section=1
            "--name=Redis high availability agent on Consul"
            --include=${RESEC_PACKAGING_DIR}/resec.h2m --output=${RESEC_MAN_PAGE} $<TARGET_FILE:resec>
    COMMAND ${GZIP_PROGRAM} -9nf ${RESEC_MAN_PAGE}
    DEPENDS resec ${RESEC_PACKAGING_DIR}/resec.h2m
    COMMENT "Generating the resec(1) man page with help2man"
    VERBATIM)
  add_custom_target(resec_man_page ALL DEPENDS ${RESEC_MAN_PAGE}.gz)
  install(FILES ${RESEC_MAN_PAGE}.gz DESTINATION share/man/man1)
else()
  message(STATUS "No man page (help2man or gzip missing, or a sanitizer build): scripts/install-deps.sh installs help2man")
endif()

set(CPACK_PACKAGE_NAME resec)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "resec")
set(CPACK_PACKAGE_CONTACT "resec maintainers <resec-maintainers@invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Redis high availability agent on Consul")
# One argument: separate strings would become a CMake list, joined with ';'.
set(CPACK_PACKAGE_DESCRIPTION "resec runs beside each Redis server of a group and keeps exactly one of them \
master through a Consul lock, registering master and replicas as Consul services for discovery. \
A drop-in replacement for the Go resec with the same settings, plus metrics, operator commands \
(status, switchover) and systemd notify support.")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "redis-server")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${RESEC_PACKAGING_DIR}/conffiles ${RESEC_PACKAGING_DIR}/postinst ${RESEC_PACKAGING_DIR}/prerm
    ${RESEC_PACKAGING_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_GENERATOR DEB)
# Absolute destinations (/lib/systemd/system, /etc/default) are what a Debian
# package wants; they only make sense for packages, so say so once here.
set(CPACK_WARN_ON_ABSOLUTE_INSTALL_DESTINATION OFF)

include(CPack)
