include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(socketengine_installed socketengine)
if(TARGET socketengine_mqtt)
  list(APPEND socketengine_installed socketengine_mqtt)
endif()
install(TARGETS ${socketengine_installed} EXPORT socketengineTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/socketengine DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT socketengineTargets NAMESPACE socketengine::
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/socketengine)

configure_package_config_file(cmake/socketengineConfig.cmake.in
  ${PROJECT_BINARY_DIR}/socketengineConfig.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/socketengine)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/socketengineConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/socketengineConfig.cmake
              ${PROJECT_BINARY_DIR}/socketengineConfigVersion.cmake
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/socketengine)
