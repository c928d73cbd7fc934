"""The domain API entry points (from spec/domain-api.md) and where each lives in virtkernel.

Each row: libvirt entry point, the object that carries the public method (conn or dom), the method name
("-" where Python's memory management replaces it), and the driver hook it dispatches to ("-" when the kernel
answers it alone or orchestrates other hooks, as for the migrate entry points). "…Flags", "…WithFiles" and
similar variants fold into one method and one hook with a ``flags`` argument.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EntryPoint:
    """One public entry point of the domain API."""

    c_name: str
    owner: str
    method: str | None
    hook: str | None


_TABLE = """
virConnectDomainEventDeregister       conn  domain_event_deregister             connect_domain_event_deregister
virConnectDomainEventDeregisterAny    conn  domain_event_deregister_any         connect_domain_event_deregister_any
virConnectDomainEventRegister         conn  domain_event_register               connect_domain_event_register
virConnectDomainEventRegisterAny      conn  domain_event_register_any           connect_domain_event_register_any
virConnectDomainXMLFromNative         conn  domain_xml_from_native              connect_domain_xml_from_native
virConnectDomainXMLToNative           conn  domain_xml_to_native                connect_domain_xml_to_native
virConnectGetAllDomainStats           conn  get_all_domain_stats                connect_get_all_domain_stats
virConnectGetDomainCapabilities       conn  get_domain_capabilities             connect_get_domain_capabilities
virConnectListAllDomains              conn  list_all_domains                    connect_list_all_domains
virConnectListDefinedDomains          conn  list_defined_domains                connect_list_defined_domains
virConnectListDomains                 conn  list_domains                        connect_list_domains
virConnectNumOfDefinedDomains         conn  num_of_defined_domains              connect_num_of_defined_domains
virConnectNumOfDomains                conn  num_of_domains                      connect_num_of_domains
virDomainAbortJob                     dom   abort_job                           domain_abort_job
virDomainAbortJobFlags                dom   abort_job                           domain_abort_job
virDomainAddIOThread                  dom   add_io_thread                       domain_add_io_thread
virDomainAgentSetResponseTimeout      dom   agent_set_response_timeout          domain_agent_set_response_timeout
virDomainAttachDevice                 dom   attach_device                       domain_attach_device
virDomainAttachDeviceFlags            dom   attach_device                       domain_attach_device
virDomainAuthorizedSSHKeysGet         dom   authorized_ssh_keys_get             domain_authorized_ssh_keys_get
virDomainAuthorizedSSHKeysSet         dom   authorized_ssh_keys_set             domain_authorized_ssh_keys_set
virDomainBackupBegin                  dom   backup_begin                        domain_backup_begin
virDomainBackupGetXMLDesc             dom   backup_get_xml_desc                 domain_backup_get_xml_desc
virDomainBlockCommit                  dom   block_commit                        domain_block_commit
virDomainBlockCopy                    dom   block_copy                          domain_block_copy
virDomainBlockJobAbort                dom   block_job_abort                     domain_block_job_abort
virDomainBlockJobSetSpeed             dom   block_job_set_speed                 domain_block_job_set_speed
virDomainBlockPeek                    dom   block_peek                          domain_block_peek
virDomainBlockPull                    dom   block_pull                          domain_block_pull
virDomainBlockRebase                  dom   block_rebase                        domain_block_rebase
virDomainBlockResize                  dom   block_resize                        domain_block_resize
virDomainBlockStats                   dom   block_stats                         domain_block_stats
virDomainBlockStatsFlags              dom   block_stats_flags                   domain_block_stats_flags
virDomainCoreDump                     dom   core_dump                           domain_core_dump
virDomainCoreDumpWithFormat           dom   core_dump                           domain_core_dump
virDomainCreate                       dom   create                              domain_create
virDomainCreateLinux                  conn  create_xml                          domain_create_xml
virDomainCreateWithFiles              dom   create                              domain_create
virDomainCreateWithFlags              dom   create                              domain_create
virDomainCreateXML                    conn  create_xml                          domain_create_xml
virDomainCreateXMLWithFiles           conn  create_xml                          domain_create_xml
virDomainDefineXML                    conn  define_xml                          domain_define_xml
virDomainDefineXMLFlags               conn  define_xml                          domain_define_xml
virDomainDelIOThread                  dom   del_io_thread                       domain_del_io_thread
virDomainDestroy                      dom   destroy                             domain_destroy
virDomainDestroyFlags                 dom   destroy                             domain_destroy
virDomainDetachDevice                 dom   detach_device                       domain_detach_device
virDomainDetachDeviceAlias            dom   detach_device_alias                 domain_detach_device_alias
virDomainDetachDeviceFlags            dom   detach_device                       domain_detach_device
virDomainFDAssociate                  dom   fd_associate                        domain_fd_associate
virDomainFSFreeze                     dom   fs_freeze                           domain_fs_freeze
virDomainFSInfoFree                   dom   -                                   -
virDomainFSThaw                       dom   fs_thaw                             domain_fs_thaw
virDomainFSTrim                       dom   fs_trim                             domain_fs_trim
virDomainFree                         dom   -                                   -
virDomainGetAutostart                 dom   get_autostart                       domain_get_autostart
virDomainGetBlkioParameters           dom   get_blkio_parameters                domain_get_blkio_parameters
virDomainGetBlockInfo                 dom   get_block_info                      domain_get_block_info
virDomainGetBlockIoTune               dom   get_block_io_tune                   domain_get_block_io_tune
virDomainGetBlockJobInfo              dom   get_block_job_info                  domain_get_block_job_info
virDomainGetCPUStats                  dom   get_cpu_stats                       domain_get_cpu_stats
virDomainGetConnect                   dom   get_connect                         -
virDomainGetControlInfo               dom   get_control_info                    domain_get_control_info
virDomainGetDiskErrors                dom   get_disk_errors                     domain_get_disk_errors
virDomainGetEmulatorPinInfo           dom   get_emulator_pin_info               domain_get_emulator_pin_info
virDomainGetFSInfo                    dom   get_fs_info                         domain_get_fs_info
virDomainGetGuestInfo                 dom   get_guest_info                      domain_get_guest_info
virDomainGetGuestVcpus                dom   get_guest_vcpus                     domain_get_guest_vcpus
virDomainGetHostname                  dom   get_hostname                        domain_get_hostname
virDomainGetID                        dom   get_id                              -
virDomainGetIOThreadInfo              dom   get_io_thread_info                  domain_get_io_thread_info
virDomainGetInfo                      dom   get_info                            domain_get_info
virDomainGetInterfaceParameters       dom   get_interface_parameters            domain_get_interface_parameters
virDomainGetJobInfo                   dom   get_job_info                        domain_get_job_info
virDomainGetJobStats                  dom   get_job_stats                       domain_get_job_stats
virDomainGetLaunchSecurityInfo        dom   get_launch_security_info            domain_get_launch_security_info
virDomainGetMaxMemory                 dom   get_max_memory                      domain_get_max_memory
virDomainGetMaxVcpus                  dom   get_max_vcpus                       domain_get_max_vcpus
virDomainGetMemoryParameters          dom   get_memory_parameters               domain_get_memory_parameters
virDomainGetMessages                  dom   get_messages                        domain_get_messages
virDomainGetMetadata                  dom   get_metadata                        domain_get_metadata
virDomainGetName                      dom   get_name                            -
virDomainGetNumaParameters            dom   get_numa_parameters                 domain_get_numa_parameters
virDomainGetOSType                    dom   get_os_type                         domain_get_os_type
virDomainGetPerfEvents                dom   get_perf_events                     domain_get_perf_events
virDomainGetSchedulerParameters       dom   get_scheduler_parameters            domain_get_scheduler_parameters
virDomainGetSchedulerParametersFlags  dom   get_scheduler_parameters            domain_get_scheduler_parameters
virDomainGetSchedulerType             dom   get_scheduler_type                  domain_get_scheduler_type
virDomainGetSecurityLabel             dom   get_security_label                  domain_get_security_label
virDomainGetSecurityLabelList         dom   get_security_label_list             domain_get_security_label_list
virDomainGetState                     dom   get_state                           domain_get_state
virDomainGetTime                      dom   get_time                            domain_get_time
virDomainGetUUID                      dom   get_uuid                            -
virDomainGetUUIDString                dom   get_uuid_string                     -
virDomainGetVcpuPinInfo               dom   get_vcpu_pin_info                   domain_get_vcpu_pin_info
virDomainGetVcpus                     dom   get_vcpus                           domain_get_vcpus
virDomainGetVcpusFlags                dom   get_vcpus_flags                     domain_get_vcpus_flags
virDomainGetXMLDesc                   dom   get_xml_desc                        domain_get_xml_desc
virDomainGraphicsReload               dom   graphics_reload                     domain_graphics_reload
virDomainHasManagedSaveImage          dom   has_managed_save_image              domain_has_managed_save_image
virDomainIOThreadInfoFree             dom   -                                   -
virDomainInjectNMI                    dom   inject_nmi                          domain_inject_nmi
virDomainInterfaceAddresses           dom   interface_addresses                 domain_interface_addresses
virDomainInterfaceFree                dom   -                                   -
virDomainInterfaceStats               dom   interface_stats                     domain_interface_stats
virDomainIsActive                     dom   is_active                           domain_is_active
virDomainIsPersistent                 dom   is_persistent                       domain_is_persistent
virDomainIsUpdated                    dom   is_updated                          domain_is_updated
virDomainListGetStats                 conn  domain_list_get_stats               connect_get_all_domain_stats
virDomainLookupByID                   conn  lookup_by_id                        domain_lookup_by_id
virDomainLookupByName                 conn  lookup_by_name                      domain_lookup_by_name
virDomainLookupByUUID                 conn  lookup_by_uuid                      domain_lookup_by_uuid
virDomainLookupByUUIDString           conn  lookup_by_uuid_string               domain_lookup_by_uuid
virDomainManagedSave                  dom   managed_save                        domain_managed_save
virDomainManagedSaveDefineXML         dom   managed_save_define_xml             domain_managed_save_define_xml
virDomainManagedSaveGetXMLDesc        dom   managed_save_get_xml_desc           domain_managed_save_get_xml_desc
virDomainManagedSaveRemove            dom   managed_save_remove                 domain_managed_save_remove
virDomainMemoryPeek                   dom   memory_peek                         domain_memory_peek
virDomainMemoryStats                  dom   memory_stats                        domain_memory_stats
virDomainMigrate                      dom   migrate                             -
virDomainMigrate2                     dom   migrate2                            -
virDomainMigrate3                     dom   migrate3                            -
virDomainMigrateBegin3                dom   migrate_begin3                      domain_migrate_begin3
virDomainMigrateBegin3Params          dom   migrate_begin3_params               domain_migrate_begin3_params
virDomainMigrateConfirm3              dom   migrate_confirm3                    domain_migrate_confirm3
virDomainMigrateConfirm3Params        dom   migrate_confirm3_params             domain_migrate_confirm3_params
virDomainMigrateFinish                conn  migrate_finish                      domain_migrate_finish
virDomainMigrateFinish2               conn  migrate_finish2                     domain_migrate_finish2
virDomainMigrateFinish3               conn  migrate_finish3                     domain_migrate_finish3
virDomainMigrateFinish3Params         conn  migrate_finish3_params              domain_migrate_finish3_params
virDomainMigrateGetCompressionCache   dom   migrate_get_compression_cache       domain_migrate_get_compression_cache
virDomainMigrateGetMaxDowntime        dom   migrate_get_max_downtime            domain_migrate_get_max_downtime
virDomainMigrateGetMaxSpeed           dom   migrate_get_max_speed               domain_migrate_get_max_speed
virDomainMigratePerform               dom   migrate_perform                     domain_migrate_perform
virDomainMigratePerform3              dom   migrate_perform3                    domain_migrate_perform3
virDomainMigratePerform3Params        dom   migrate_perform3_params             domain_migrate_perform3_params
virDomainMigratePrepare               conn  migrate_prepare                     domain_migrate_prepare
virDomainMigratePrepare2              conn  migrate_prepare2                    domain_migrate_prepare2
virDomainMigratePrepare3              conn  migrate_prepare3                    domain_migrate_prepare3
virDomainMigratePrepare3Params        conn  migrate_prepare3_params             domain_migrate_prepare3_params
virDomainMigratePrepareTunnel         conn  migrate_prepare_tunnel              domain_migrate_prepare_tunnel
virDomainMigratePrepareTunnel3        conn  migrate_prepare_tunnel3             domain_migrate_prepare_tunnel3
virDomainMigratePrepareTunnel3Params  conn  migrate_prepare_tunnel3_params      domain_migrate_prepare_tunnel3_params
virDomainMigrateSetCompressionCache   dom   migrate_set_compression_cache       domain_migrate_set_compression_cache
virDomainMigrateSetMaxDowntime        dom   migrate_set_max_downtime            domain_migrate_set_max_downtime
virDomainMigrateSetMaxSpeed           dom   migrate_set_max_speed               domain_migrate_set_max_speed
virDomainMigrateStartPostCopy         dom   migrate_start_post_copy             domain_migrate_start_post_copy
virDomainMigrateToURI                 dom   migrate_to_uri                      -
virDomainMigrateToURI2                dom   migrate_to_uri2                     -
virDomainMigrateToURI3                dom   migrate_to_uri3                     -
virDomainOpenChannel                  dom   open_channel                        domain_open_channel
virDomainOpenConsole                  dom   open_console                        domain_open_console
virDomainOpenGraphics                 dom   open_graphics                       domain_open_graphics
virDomainOpenGraphicsFD               dom   open_graphics_fd                    domain_open_graphics_fd
virDomainPMSuspendForDuration         dom   pm_suspend_for_duration             domain_pm_suspend_for_duration
virDomainPMWakeup                     dom   pm_wakeup                           domain_pm_wakeup
virDomainPinEmulator                  dom   pin_emulator                        domain_pin_emulator
virDomainPinIOThread                  dom   pin_io_thread                       domain_pin_io_thread
virDomainPinVcpu                      dom   pin_vcpu                            domain_pin_vcpu
virDomainPinVcpuFlags                 dom   pin_vcpu                            domain_pin_vcpu
virDomainReboot                       dom   reboot                              domain_reboot
virDomainRef                          dom   -                                   -
virDomainRename                       dom   rename                              domain_rename
virDomainReset                        dom   reset                               domain_reset
virDomainRestore                      conn  restore                             domain_restore
virDomainRestoreFlags                 conn  restore                             domain_restore
virDomainRestoreParams                conn  restore_params                      domain_restore_params
virDomainResume                       dom   resume                              domain_resume
virDomainSave                         dom   save                                domain_save
virDomainSaveFlags                    dom   save                                domain_save
virDomainSaveImageDefineXML           conn  save_image_define_xml               domain_save_image_define_xml
virDomainSaveImageGetXMLDesc          conn  save_image_get_xml_desc             domain_save_image_get_xml_desc
virDomainSaveParams                   dom   save_params                         domain_save_params
virDomainScreenshot                   dom   screenshot                          domain_screenshot
virDomainSendKey                      dom   send_key                            domain_send_key
virDomainSendProcessSignal            dom   send_process_signal                 domain_send_process_signal
virDomainSetAutostart                 dom   set_autostart                       domain_set_autostart
virDomainSetBlkioParameters           dom   set_blkio_parameters                domain_set_blkio_parameters
virDomainSetBlockIoTune               dom   set_block_io_tune                   domain_set_block_io_tune
virDomainSetBlockThreshold            dom   set_block_threshold                 domain_set_block_threshold
virDomainSetGuestVcpus                dom   set_guest_vcpus                     domain_set_guest_vcpus
virDomainSetIOThreadParams            dom   set_io_thread_params                domain_set_io_thread_params
virDomainSetInterfaceParameters       dom   set_interface_parameters            domain_set_interface_parameters
virDomainSetLaunchSecurityState       dom   set_launch_security_state           domain_set_launch_security_state
virDomainSetLifecycleAction           dom   set_lifecycle_action                domain_set_lifecycle_action
virDomainSetMaxMemory                 dom   set_max_memory                      domain_set_max_memory
virDomainSetMemory                    dom   set_memory                          domain_set_memory
virDomainSetMemoryFlags               dom   set_memory                          domain_set_memory
virDomainSetMemoryParameters          dom   set_memory_parameters               domain_set_memory_parameters
virDomainSetMemoryStatsPeriod         dom   set_memory_stats_period             domain_set_memory_stats_period
virDomainSetMetadata                  dom   set_metadata                        domain_set_metadata
virDomainSetNumaParameters            dom   set_numa_parameters                 domain_set_numa_parameters
virDomainSetPerfEvents                dom   set_perf_events                     domain_set_perf_events
virDomainSetSchedulerParameters       dom   set_scheduler_parameters            domain_set_scheduler_parameters
virDomainSetSchedulerParametersFlags  dom   set_scheduler_parameters            domain_set_scheduler_parameters
virDomainSetTime                      dom   set_time                            domain_set_time
virDomainSetUserPassword              dom   set_user_password                   domain_set_user_password
virDomainSetVcpu                      dom   set_vcpu                            domain_set_vcpu
virDomainSetVcpus                     dom   set_vcpus                           domain_set_vcpus
virDomainSetVcpusFlags                dom   set_vcpus                           domain_set_vcpus
virDomainShutdown                     dom   shutdown                            domain_shutdown
virDomainShutdownFlags                dom   shutdown                            domain_shutdown
virDomainStartDirtyRateCalc           dom   start_dirty_rate_calc               domain_start_dirty_rate_calc
virDomainStatsRecordListFree          dom   -                                   -
virDomainSuspend                      dom   suspend                             domain_suspend
virDomainUndefine                     dom   undefine                            domain_undefine
virDomainUndefineFlags                dom   undefine                            domain_undefine
virDomainUpdateDeviceFlags            dom   update_device                       domain_update_device
"""


def _parse(table: str) -> tuple[EntryPoint, ...]:
    rows = []
    for line in table.strip().splitlines():
        c_name, owner, method, hook = line.split()
        rows.append(EntryPoint(c_name, owner, None if method == "-" else method, None if hook == "-" else hook))
    return tuple(rows)


ENTRY_POINTS: tuple[EntryPoint, ...] = _parse(_TABLE)
"""Every entry point of the domain API, in the spec's alphabetical order."""
