// Module load/unload through libkmod (dependencies resolved from modules.dep.bin).
import Glibc
import CKmod

package final class Kmod {
    let ctx: OpaquePointer?
    package init() {
        ctx = kmod_new(nil, nil)
        if let ctx { _ = kmod_load_resources(ctx) }
    }

    private func withModule(_ name: String, _ body: (OpaquePointer) -> Int32) -> Int32 {
        guard let ctx else { return ENOSYS }
        var list: OpaquePointer? = nil
        let r = kmod_module_new_from_lookup(ctx, name, &list)
        if r < 0 { return -r }
        guard let list else { return ENOENT }
        defer { kmod_module_unref_list(list) }
        var result: Int32 = ENOENT
        var it: OpaquePointer? = list
        while let cur = it {
            if let mod = kmod_module_get_module(cur) {
                result = body(mod)
                kmod_module_unref(mod)
                break
            }
            it = kmod_list_next(list, cur)
        }
        return result
    }

    /// modprobe `name` `options` (options go to the named module only). 0 or errno.
    func load(_ name: String, options: String?) -> Int32 {
        withModule(name) { mod in
            let r = kmod_module_probe_insert_module(mod, 0, options, nil, nil, nil)
            return r < 0 ? -r : 0
        }
    }

    /// rmmod `name`. 0 or errno (EBUSY while buffers or fds hold it, ENOENT if not loaded).
    func unload(_ name: String) -> Int32 {
        withModule(name) { mod in
            let r = kmod_module_remove_module(mod, 0)
            return r < 0 ? -r : 0
        }
    }

    func isLoaded(_ name: String) -> Bool { Sys.exists("/sys/module/\(name)") }
}
